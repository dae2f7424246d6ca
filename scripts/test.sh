#!/usr/bin/env bash
# Runs every check zaphod has: format/lint, types, the wrapper guard, unit tests, data-layer tests
# on SQLite and on a private PostgreSQL, host-agent tests that boot real UML VMs, and end-to-end
# tests in Debian's Chromium against the real server, agent and VMs.
# Installs what is missing first (Debian and npm packages); safe to run twice.
# Usage: scripts/test.sh [step…]   (steps: lint types wrappers unit db-sqlite db-pg agent build e2e)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_debian_packages user-mode-linux uml-utilities busybox-static e2fsprogs tmux chromium postgresql procps
ensure_node_modules

REPORTS=.cache/reports
rm -rf "$REPORTS" && mkdir -p "$REPORTS"
declare -a RESULTS=()
FAILED=0
want() { [[ ${#STEPS[@]} -eq 0 ]] || [[ " ${STEPS[*]} " == *" $1 "* ]]; }
step() {
  local name=$1; shift
  want "$name" || return 0
  say "$name: $*"
  local t0=$SECONDS
  if "$@"; then RESULTS+=("ok    $name ($((SECONDS - t0)) s)")
  else RESULTS+=("FAIL  $name ($((SECONDS - t0)) s)"); FAILED=1; fi
}
STEPS=("$@")

vitest_json() { echo "--reporter=default --reporter=json --outputFile.json=$REPORTS/$1.json"; }

step lint npx biome ci --error-on-warnings .
step types npx tsc --noEmit
step wrappers npm run -s check:wrappers
# shellcheck disable=SC2046
step unit npx vitest run --project unit $(vitest_json unit)

db_tests() { TEST_DATABASE_URL=$1 npx vitest run --project integration server/web prisma $(vitest_json "$2"); }
step db-sqlite db_tests "file:$ROOT/.data/test-db/sqlite.db" db-sqlite
pg_tests() {
  local url rc=0
  url=$(scripts/pg-start.sh) || return 1
  db_tests "$url" db-pg || rc=$?
  scripts/pg-stop.sh
  return $rc
}
step db-pg pg_tests
# shellcheck disable=SC2046
step agent npx vitest run --project integration server/agent $(vitest_json agent)
step build ensure_build
e2e() { PLAYWRIGHT_JSON_OUTPUT_NAME=$REPORTS/e2e.json npx playwright test --reporter=list,json; }
step e2e e2e

echo
say "summary"
printf '  %s\n' "${RESULTS[@]}"
node scripts/sum-reports.mjs "$REPORTS" || FAILED=1
exit $FAILED
