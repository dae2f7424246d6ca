#!/usr/bin/env bash
# The README's quick start as a newcomer meets it: this tree (with its uncommitted changes) cloned
# into a 0700 directory whose path has a space, `scripts/up.sh` run there as root (reusing this
# tree's node_modules and build), then a member signs in in Chromium and sees the running demo VM.
# Also: a second up.sh changes nothing, a killed agent is noticed and restarted, down.sh stops
# both by their real pids, and an unreachable data directory is refused in one sentence.
# Everything runs under its own names (install, state, log and run directories, host-user prefix,
# web user, port) and is removed afterwards, also on failure.
#   scripts/test-quickstart.sh        (REPORT=file.json adds a vitest-style count for test.sh)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $(id -u) -eq 0 ]] || die "quickstart: run as root (it installs the production shape under its own names)"
[[ -f .next/BUILD_ID && -f dist/web.mjs ]] || die "quickstart: build first (scripts/test.sh build)"
# Each check counts on its own: a failing one must not end the run before the cleanup.
set +e

PASSED=0 FAILED=0
check() {
  local name=$1; shift
  if "$@"; then PASSED=$((PASSED + 1)); printf '  ok    %s\n' "$name"
  else FAILED=$((FAILED + 1)); printf '  FAIL  %s\n' "$name"; fi
}

tag=zq$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')
base=$(mktemp -d "/tmp/zaphod-quickstart.XXXXXX") # mktemp: mode 0700, like a home directory
clone="$base/my zaphod"
port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
export PORT=$port ZAPHOD_INSTALL_DIR=/opt/zaphod-$tag ZAPHOD_STATE_DIR=/var/lib/zaphod-$tag \
  ZAPHOD_LOG_DIR=/var/log/zaphod-$tag ZAPHOD_RUN_DIR=/run/zaphod-$tag ZAPHOD_HOST_USER_PREFIX=$tag- \
  ZAPHOD_WEB_USER=$tag ZAPHOD_SYSTEMD=0
unset ZAPHOD_AGENT_SOCKET ZAPHOD_LISTEN ZAPHOD_ORIGINS ZAPHOD_DATA_DIR DATABASE_URL

cleanup() {
  set +e
  if ((FAILED)); then
    echo "--- agent log"; tail -40 "/var/log/zaphod-$tag/agent.log" 2>/dev/null
    echo "--- web log"; tail -20 "/var/log/zaphod-$tag/web.log" 2>/dev/null
    for f in /var/lib/zaphod-"$tag"/vms/*/console/*; do [[ -f $f ]] && { echo "--- $f"; tail -c 3000 "$f"; }; done
  fi
  if [[ -d $clone ]]; then (cd "$clone" && bash scripts/down.sh --vms >/dev/null 2>&1); fi
  # Whatever still runs as the run's host users or from its state (a failed start), by pid.
  for pid in $(pgrep -f -- "/var/lib/zaphod-$tag/" 2>/dev/null) $(pgrep -f -- "/opt/zaphod-$tag/" 2>/dev/null); do
    kill -KILL "$pid" 2>/dev/null
  done
  while IFS=: read -r user _; do
    [[ $user == "$tag"-* ]] || continue
    for pid in $(pgrep -u "$user" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    sleep 0.2
    userdel -- "$user" 2>/dev/null
  done </etc/passwd
  userdel -- "$tag" 2>/dev/null
  groupdel -- "$tag" 2>/dev/null
  rm -rf -- "/opt/zaphod-$tag" "/var/lib/zaphod-$tag" "/var/log/zaphod-$tag" "/run/zaphod-$tag" "$base"
  git -C "$ROOT" update-ref -d "refs/zaphod-quickstart/$tag" 2>/dev/null
}
trap cleanup EXIT

# This tree as it is now (tracked and untracked, not ignored), without touching its index or refs
# beyond one temporary ref that the cleanup deletes.
index=$(mktemp)
cp "$(git rev-parse --git-path index)" "$index"
GIT_INDEX_FILE=$index git add -A
snap=$(git commit-tree "$(GIT_INDEX_FILE=$index git write-tree)" -p HEAD -m "quickstart test snapshot")
rm -f "$index"
git update-ref "refs/zaphod-quickstart/$tag" "$snap"
git clone -q "$ROOT" "$clone"
git -C "$clone" fetch -q origin "refs/zaphod-quickstart/$tag"
git -C "$clone" checkout -q FETCH_HEAD
# Reuse this tree's packages (hard links: npm ci is skipped, the lockfile matches) and build (a
# copy: the clone may rebuild in place).
cp -al node_modules "$clone/node_modules"
cp -a .next dist "$clone/"
# What npm ci's postinstall made (the Prisma clients, not in git): a rebuild needs them.
cp -a server/web/db/generated "$clone/server/web/db/"
[[ $(source_hash) == "$(cat .next/.zaphod-source)" ]] ||
  warn "quickstart: this tree changed since its build; the clone will build again"

say "quickstart: scripts/up.sh in '$clone' (mode $(stat -c %a "$base") parent), port $port"
log=$base/up.log
t0=$SECONDS
check "up.sh brings the panel up from a 0700 directory with a space in its path" \
  bash -c 'cd "$1" && bash scripts/up.sh >"$2" 2>&1' _ "$clone" "$log"
echo "  (first up.sh: $((SECONDS - t0)) s)"
if ! grep -q "zaphod is up at http://127.0.0.1:$port" "$log"; then
  tail -30 "$log"
  echo "quickstart: up.sh failed; the other checks need it"
  [[ -n ${REPORT:-} ]] && printf '{"numPassedTests":%d,"numFailedTests":%d,"numPendingTests":0}\n' "$PASSED" "$((FAILED + 1))" >"$REPORT"
  exit 1
fi
RUN=/run/zaphod-$tag STATE=/var/lib/zaphod-$tag
check "agent.pid and web.pid name the real processes (node dist/agent.mjs, dist/web.mjs)" \
  bash -c 'grep -q "dist/agent.mjs" /proc/$(cat "$1/agent.pid")/cmdline && grep -q "dist/web.mjs" /proc/$(cat "$1/web.pid")/cmdline' _ "$RUN"
check "the agent runs as root and the web tier as its own user, both from the root-owned release" \
  bash -c '[[ $(stat -c %U /proc/$(cat "$1/agent.pid")) == root && $(stat -c %U /proc/$(cat "$1/web.pid")) == "$2" ]] &&
    [[ $(readlink -f /proc/$(cat "$1/web.pid")/cwd) == /opt/zaphod-$2/releases/* ]] &&
    [[ $(stat -c %U /opt/zaphod-$2/current/dist/agent.mjs) == root ]] && ! find /opt/zaphod-$2/releases -perm /022 -not -type l | grep -q .' \
  _ "$RUN" "$tag"
check "no VM state in the clone" bash -c '! find "$1" -name "*.cow" -o -name "*.sock" | grep -q .' _ "$clone"

# A member signs in in Chromium and sees the demo VM running.
member_pw=$(awk '$1=="demo"{print $2}' "$STATE/demo-passwords")
check "the demo member signs in in Chromium and sees the demo VM running" \
  env QS_URL="http://127.0.0.1:$port" QS_USER=demo QS_PASSWORD="$member_pw" \
  npx playwright test --config e2e/quickstart/playwright.config.ts --reporter=line

agent_pid=$(cat "$RUN/agent.pid") web_pid=$(cat "$RUN/web.pid")
t0=$SECONDS
check "a second up.sh finds both running and changes nothing" \
  bash -c 'cd "$1" && bash scripts/up.sh >"$2" 2>&1 && grep -q "agent already running" "$2" && grep -q "web already running" "$2"' \
  _ "$clone" "$base/up2.log"
echo "  (second up.sh: $((SECONDS - t0)) s)"
check "…and keeps the same processes" \
  bash -c '[[ $(cat "$1/agent.pid") == "$2" && $(cat "$1/web.pid") == "$3" ]]' _ "$RUN" "$agent_pid" "$web_pid"

kill -KILL "$agent_pid"
check "after kill -9 of the agent, up.sh starts a new one and says the panel is up" \
  bash -c 'cd "$1" && bash scripts/up.sh >"$2" 2>&1 && grep -q "starting agent" "$2" && grep -q "zaphod is up" "$2"' \
  _ "$clone" "$base/up3.log"
check "…the demo VM kept running through it" \
  bash -c 'curl -fsS "$1/api/health" >/dev/null && pgrep -u "$2-demo" -f "umid=demo" >/dev/null' _ "http://127.0.0.1:$port" "$tag"

agent_pid=$(cat "$RUN/agent.pid") web_pid=$(cat "$RUN/web.pid")
check "down.sh stops the web tier and the agent by their pids; the VM keeps running" \
  bash -c 'cd "$1" && bash scripts/down.sh >/dev/null 2>&1; sleep 0.5; ! kill -0 "$2" 2>/dev/null && ! kill -0 "$3" 2>/dev/null && pgrep -u "$4-demo" -f "umid=demo" >/dev/null' \
  _ "$clone" "$agent_pid" "$web_pid" "$tag"

# An agent whose data directory its host users cannot reach refuses to start, in one sentence.
mkdir -p "$base/agent-data"
out=$(env -i PATH="$PATH" ZAPHOD_DATA_DIR="$base/agent-data" ZAPHOD_AGENT_SOCKET="$base/a.sock" \
  ZAPHOD_HOST_USER_PREFIX="$tag-" node dist/agent.mjs 2>&1 </dev/null)
check "an unreachable data directory is refused naming the users and the path" \
  grep -q "host users ($tag-\*) cannot reach $base/agent-data: $base is mode 0700" <<<"$out"

echo "quickstart: $PASSED passed, $FAILED failed"
[[ -n ${REPORT:-} ]] &&
  printf '{"numPassedTests":%d,"numFailedTests":%d,"numPendingTests":0}\n' "$PASSED" "$FAILED" >"$REPORT"
((FAILED == 0))
