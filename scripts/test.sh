#!/usr/bin/env bash
# Runs every check zaphod has: format/lint, types, the wrapper guard, unit tests, data-layer tests
# on SQLite and on a private PostgreSQL, host-agent tests that boot real UML VMs, and end-to-end
# tests in Debian's Chromium against the real server, agent and VMs.
# Installs what is missing first (Debian and npm packages); safe to run twice.
# Usage: scripts/test.sh [step…]   (steps: lint types wrappers layers advisories db-schema unit dist build integration db-pg units e2e quickstart)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_debian_packages user-mode-linux uml-utilities busybox-static e2fsprogs tmux chromium postgresql procps \
  systemd util-linux curl git gcc libc6-dev sudo openssl bubblewrap iproute2 nftables genisoimage openssh-client dropbear-bin dnsmasq-base mmdebstrap
ensure_node_modules
test_state_dir

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
  say "$name: $((SECONDS - t0)) s"
}
STEPS=("$@")

vitest_json() { echo "--reporter=default --reporter=json --outputFile.json=$REPORTS/$1.json"; }

# The tsx CLI (the check scripts) makes $TMPDIR/tsx-<uid> for its IPC socket even without a
# cache: as root that is a directory of root's own in the test state, never world-writable /tmp.
TSX_TMP=$ZAPHOD_TEST_STATE/tsx-tmp
install -d -m 0700 "$TSX_TMP"
tsx_cli() { env TMPDIR="$TSX_TMP" "$@"; }

step lint npx biome ci --colors=off --error-on-warnings .
step types npx tsc --noEmit
step wrappers tsx_cli npm run -s check:wrappers
step layers tsx_cli npm run -s check:layers
# Installed packages against security/advisories.json, and npm audit where the registry answers.
# --no-cache: as root, tsx would keep its compile cache in world-writable /tmp.
step advisories tsx_cli npx tsx --no-cache scripts/check-advisories.ts
step db-schema tsx_cli npm run -s db:check
# shellcheck disable=SC2046
step unit npx vitest run --project unit $(vitest_json unit)
# The compiled processes and UML's xstate shim (dist/), which the agent tests boot VMs with.
step dist node scripts/build-dist.mjs
# next build and dist/ (when a build input changed); as root also the tests' own root-owned
# release in the test state directory, which the e2e run and the CLI tests run from as other users
# (the clone may sit in a 0700 home).
build() { ensure_build && install_test_release; }
step build build
# Integration: the data layer on SQLite, the host agent booting real UML VMs, components in Chromium.
# shellcheck disable=SC2046
step integration npx vitest run --project integration $(vitest_json integration)
# The same data-layer tests against a private PostgreSQL (started and stopped by pg-run.sh).
# shellcheck disable=SC2046
step db-pg scripts/pg-run.sh npx vitest run --project integration server/web/bus.itest.ts server/web/dal server/web/auth server/web/console server/web/snapshots $(vitest_json db-pg)
# The units up.sh installs: systemd-analyze verify and security (web tier exposure at most 5.0).
step units env REPORT=$REPORTS/units.json scripts/check-units.sh
e2e() { PLAYWRIGHT_JSON_OUTPUT_NAME=$REPORTS/e2e.json npx playwright test --reporter=list,json; }
step e2e e2e
# The README's quick start from a clone in a 0700 directory whose path has a space, as root,
# reusing this tree's node_modules and build, up to a signed-in member with a running VM.
step quickstart env REPORT=$REPORTS/quickstart.json scripts/test-quickstart.sh

echo
say "summary"
printf '  %s\n' "${RESULTS[@]}"
# Steps that run no tests (build, lint…) leave no report: their own status is the result.
if compgen -G "$REPORTS/*.json" >/dev/null; then node scripts/sum-reports.mjs "$REPORTS" || FAILED=1; fi
exit $FAILED
