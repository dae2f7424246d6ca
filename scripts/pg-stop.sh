#!/usr/bin/env bash
# Stops the private PostgreSQL started by scripts/pg-start.sh (fast shutdown). Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh >/dev/null
test_state_dir
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
DATA="$ZAPHOD_TEST_STATE/pg/data"
[ -f "$DATA/postmaster.pid" ] || exit 0
if [ "$(id -u)" = 0 ]; then
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
else
  "$PGBIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
fi
