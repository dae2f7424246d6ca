#!/usr/bin/env bash
# Starts a private PostgreSQL for tests: data in $ZAPHOD_TEST_STATE/pg (owned by the postgres user when we
# run as root), 127.0.0.1 on a free port, trust auth. Prints the database URL on stdout; the
# instance stays up until scripts/pg-stop.sh. Running it again while it is up prints the same URL.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh >/dev/null
test_state_dir
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
[ -x "$PGBIN/initdb" ] || { echo "pg-start: PostgreSQL binaries not found (apt-get install postgresql)" >&2; exit 1; }
DIR="$ZAPHOD_TEST_STATE/pg"
DATA="$DIR/data"
mkdir -p "$DIR"

if [ "$(id -u)" = 0 ]; then
  chown postgres:postgres "$DIR"
  chmod 0700 "$DIR"
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

if [ -f "$DIR/port" ] && as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  echo "postgresql://postgres@127.0.0.1:$(cat "$DIR/port")/zaphod_test"
  exit 0
fi

if [ ! -f "$DATA/PG_VERSION" ]; then
  as_pg "$PGBIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; exit 1; }
fi

# process.stdout.write of a string: console.log of a number is coloured when FORCE_COLOR is set (as
# Playwright sets it for the processes it starts), and PostgreSQL refused "port=\e[33m45509\e[39m".
PORT=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{process.stdout.write(`${s.address().port}\n`);s.close()})')
[[ $PORT =~ ^[0-9]+$ ]] || { echo "pg-start: no free port (got: $PORT)" >&2; exit 1; }
echo "$PORT" > "$DIR/port"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR/port"
as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$DIR -c fsync=off" start >/dev/null \
  || { tail -n 30 "$DIR/server.log" >&2; exit 1; }
as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -qtAc \
  "SELECT 1 FROM pg_database WHERE datname='zaphod_test'" | grep -q 1 \
  || as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres zaphod_test
echo "postgresql://postgres@127.0.0.1:$PORT/zaphod_test"
