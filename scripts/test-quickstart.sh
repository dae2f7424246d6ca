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
export TSX_DISABLE_CACHE=1 # root: no compile cache in world-writable /tmp
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
free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
port=$(free_port)
ssh_port=$(free_port)
export ZAPHOD_DEMO_SSH_PORT=$ssh_port
export PORT=$port ZAPHOD_INSTALL_DIR=/opt/zaphod-$tag ZAPHOD_STATE_DIR=/var/lib/zaphod-$tag \
  ZAPHOD_LOG_DIR=/var/log/zaphod-$tag ZAPHOD_RUN_DIR=/run/zaphod-$tag ZAPHOD_HOST_USER_PREFIX=$tag- \
  ZAPHOD_WEB_USER=$tag ZAPHOD_SYSTEMD=0
unset ZAPHOD_AGENT_SOCKET ZAPHOD_LISTEN ZAPHOD_ORIGINS ZAPHOD_DATA_DIR DATABASE_URL

cleanup() {
  set +e
  if ((FAILED)); then
    for f in /var/log/zaphod-"$tag"*/agent.log /home/"$tag"*/.local/state/zaphod/logs/agent.log; do
      [[ -f $f ]] && { echo "--- $f"; tail -30 "$f"; }
    done
    for f in /var/log/zaphod-"$tag"*/web/web.log /var/log/zaphod-"$tag"*/*.out \
      /home/"$tag"*/.local/state/zaphod/logs/web/web.log /home/"$tag"*/.local/state/zaphod/logs/*.out; do
      [[ -f $f ]] && { echo "--- $f"; tail -15 "$f"; }
    done
  fi
  if [[ -d $clone ]]; then (cd "$clone" && bash scripts/down.sh --vms >/dev/null 2>&1); fi
  # The VMs' cgroups and network namespaces (confinement) outlive their processes.
  for d in /var/lib/zaphod-"$tag"* "$base/agent-data"; do [[ -d $d ]] && node --import tsx scripts/remove-confinement.ts "$d"; done
  # The VMs' network namespaces (named after each run's state directory, scripts/services.mjs).
  for d in /var/lib/zaphod-"$tag"*; do
    ip netns delete "zaphod-net-$(printf '%s' "$d" | sha256sum | cut -c1-8)" 2>/dev/null
  done
  # Whatever still runs from the run's install or state (a failed start), by pid.
  for pid in $(pgrep -f -- "zaphod-$tag" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  # The run's users: the web user, the sudoer, the plain user and every VM host user (prefix $tag).
  while IFS=: read -r user _; do
    [[ $user == "$tag"* ]] || continue
    for pid in $(pgrep -u "$user" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  done </etc/passwd
  sleep 0.3
  while IFS=: read -r user _ _ _ _ home _; do
    [[ $user == "$tag"* ]] || continue
    userdel -- "$user" 2>/dev/null
    [[ $home == /home/"$tag"* ]] && rm -rf -- "$home"
  done < <(cat /etc/passwd)
  groupdel -- "$tag" 2>/dev/null
  rm -f "/etc/sudoers.d/zaphod-$tag"
  rm -rf -- /opt/zaphod-"$tag"* /var/lib/zaphod-"$tag"* /var/log/zaphod-"$tag"* /run/zaphod-"$tag"* "$base"
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

# The host's own network before: up.sh must leave it as it is (the VMs' network has a namespace of its own).
host_net() { ip -o link show | sed 's/^[0-9]*: //; s/ state .*//' | sort; ip -o addr show | awk '{print $2, $4}' | sort; ip route show; nft list ruleset 2>/dev/null; sysctl -n net.ipv4.ip_forward net.ipv4.conf.all.route_localnet; }
host_net >"$base/host-net.before"
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
check "check 44: agent.pid and web.pid name the real processes (node dist/agent.mjs, dist/web.mjs)" \
  bash -c 'grep -q "dist/agent.mjs" /proc/$(cat "$1/agent.pid")/cmdline && grep -q "dist/web.mjs" /proc/$(cat "$1/web.pid")/cmdline' _ "$RUN"
check "check 43: the agent runs as root and the web tier as its own user, both from the root-owned release, nothing in it writable by group or others" \
  bash -c '[[ $(stat -c %U /proc/$(cat "$1/agent.pid")) == root && $(stat -c %U /proc/$(cat "$1/web.pid")) == "$2" ]] &&
    [[ $(readlink -f /proc/$(cat "$1/web.pid")/cwd) == /opt/zaphod-$2/releases/* ]] &&
    [[ $(stat -c %U /opt/zaphod-$2/current/dist/agent.mjs) == root ]] && ! find /opt/zaphod-$2/releases -perm /022 -not -type l | grep -q .' \
  _ "$RUN" "$tag"
check "each service writes its own log, 0640, the web tier's in its own directory VM users cannot enter" \
  bash -c 'L=/var/log/zaphod-$1; [[ $(stat -c "%a %U" "$L/agent.log") == "640 root" && $(stat -c "%a %U" "$L/web/web.log") == "640 $1" ]] &&
    [[ $(stat -c %a "$L") == 750 && $(stat -c %a "$L/web") == 750 ]] && grep -q . "$L/agent.log" && grep -q . "$L/web/web.log"' _ "$tag"
check "no VM state in the clone" bash -c '! find "$1" -name "*.cow" -o -name "*.sock" | grep -q .' _ "$clone"

check "ssh -p $ssh_port root@127.0.0.1 with the demo key logs in to the demo VM (a forward the agent relays)" \
  bash -c 'for _ in $(seq 1 30); do out=$(ssh -p "$2" -i "$1/demo-ssh-key" -o BatchMode=yes -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 root@127.0.0.1 "hostname" 2>/dev/null) && [[ $out == demo ]] && exit 0; sleep 2; done; exit 1' \
  _ "$STATE" "$ssh_port"
check "up.sh left the host's own links, addresses, routes, nftables rules and forwarding sysctls as they were" \
  bash -c 'diff <(eval "$1") "$2"' _ "$(declare -f host_net); host_net" "$base/host-net.before"

# A member signs in in Chromium and sees the demo VM running.
member_pw=$(awk '$1=="demo"{print $2}' "$STATE/demo-passwords")
check "the demo member signs in in Chromium and sees the demo VM running" \
  env QS_URL="http://127.0.0.1:$port" QS_USER=demo QS_PASSWORD="$member_pw" \
  npx playwright test --config e2e/quickstart/playwright.config.ts --reporter=line member-signs-in

agent_pid=$(cat "$RUN/agent.pid") web_pid=$(cat "$RUN/web.pid")
t0=$SECONDS
check "a second up.sh finds both running and changes nothing" \
  bash -c 'cd "$1" && bash scripts/up.sh >"$2" 2>&1 && grep -q "agent already running" "$2" && grep -q "web already running" "$2"' \
  _ "$clone" "$base/up2.log"
echo "  (second up.sh: $((SECONDS - t0)) s)"
check "…and keeps the same processes" \
  bash -c '[[ $(cat "$1/agent.pid") == "$2" && $(cat "$1/web.pid") == "$3" ]]' _ "$RUN" "$agent_pid" "$web_pid"

kill -KILL "$agent_pid"
check "check 44: after kill -9 of the agent, up.sh starts a new one and says the panel is up" \
  bash -c 'cd "$1" && bash scripts/up.sh >"$2" 2>&1 && grep -q "starting agent" "$2" && grep -q "zaphod is up" "$2"' \
  _ "$clone" "$base/up3.log"
check "…the demo VM kept running through it" \
  bash -c 'curl -fsS --max-time 10 "$1/api/health" >/dev/null && pgrep -u "$2-demo" -f "umid=demo" >/dev/null' _ "http://127.0.0.1:$port" "$tag"

agent_pid=$(cat "$RUN/agent.pid") web_pid=$(cat "$RUN/web.pid")
check "down.sh stops the web tier and the agent by their pids; the VM keeps running" \
  bash -c 'cd "$1" && bash scripts/down.sh >/dev/null 2>&1; sleep 0.5; ! kill -0 "$2" 2>/dev/null && ! kill -0 "$3" 2>/dev/null && pgrep -u "$4-demo" -f "umid=demo" >/dev/null' \
  _ "$clone" "$agent_pid" "$web_pid" "$tag"

# A service that dies at start is a failure, not "zaphod is up": the web port is taken.
node -e 'require("net").createServer().listen(Number(process.argv[1]), "127.0.0.1")' "$port" &
squatter=$!
sleep 0.5
check "up.sh fails, naming the web tier, when it dies at start (its port is taken)" \
  bash -c 'cd "$1" && ! bash scripts/up.sh >"$2" 2>&1 && grep -q "web exited" "$2" && ! grep -q "zaphod is up" "$2"' \
  _ "$clone" "$base/up4.log"
kill "$squatter" 2>/dev/null
wait "$squatter" 2>/dev/null
(cd "$clone" && bash scripts/down.sh >/dev/null 2>&1)

# An agent whose data directory its host users cannot reach refuses to start, in one sentence.
mkdir -p "$base/agent-data"
out=$(env -i PATH="$PATH" ZAPHOD_DATA_DIR="$base/agent-data" ZAPHOD_AGENT_SOCKET="$base/a.sock" \
  ZAPHOD_HOST_USER_PREFIX="$tag-" node dist/agent.mjs 2>&1 </dev/null)
check "an unreachable data directory is refused naming the users and the path" \
  grep -q "host users ($tag-\*) cannot reach $base/agent-data: $base is mode 0700" <<<"$out"

# clone_for USER DIR — a clone of the same snapshot in USER's 0700 home, owned by USER (the
# hard-linked node_modules stay root's: USER only reads them).
clone_for() {
  local user=$1 dir=$2
  useradd --create-home --home-dir "/home/$user" --shell /bin/bash "$user"
  chmod 0700 "/home/$user"
  git clone -q "$ROOT" "$dir"
  git -C "$dir" fetch -q origin "refs/zaphod-quickstart/$tag"
  git -C "$dir" checkout -q FETCH_HEAD
  cp -a .next dist "$dir/"
  cp -a server/web/db/generated "$dir/server/web/db/"
  find "$dir" -path "$dir/node_modules" -prune -o -exec chown -h "$user:$user" {} +
  cp -al node_modules "$dir/node_modules"
}
# as USER COMMAND… — a login-like environment for USER, nothing of root's.
as() {
  local user=$1; shift
  setpriv --reuid="$user" --regid="$user" --init-groups --reset-env -- \
    env HOME="/home/$user" USER="$user" PATH=/usr/local/bin:/usr/bin:/bin "$@"
}
free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# A normal user with sudo: up.sh builds as them (here: nothing to build) and installs as root.
sudoer=${tag}s
clone_for "$sudoer" "/home/$sudoer/my zaphod"
printf '%s ALL=(ALL) NOPASSWD: ALL\n' "$sudoer" >"/etc/sudoers.d/zaphod-$tag"
chmod 0440 "/etc/sudoers.d/zaphod-$tag"
port2=$(free_port)
check "as a normal user with sudo, up.sh installs and runs the production shape" \
  as "$sudoer" PORT="$port2" ZAPHOD_DEMO_SSH_PORT="$(free_port)" ZAPHOD_INSTALL_DIR="/opt/zaphod-${tag}b" ZAPHOD_STATE_DIR="/var/lib/zaphod-${tag}b" \
  ZAPHOD_LOG_DIR="/var/log/zaphod-${tag}b" ZAPHOD_RUN_DIR="/run/zaphod-${tag}b" ZAPHOD_HOST_USER_PREFIX="${tag}b-" \
  ZAPHOD_WEB_USER="$tag" ZAPHOD_SYSTEMD=0 bash -c 'cd "$1" && bash scripts/up.sh >"$1/up.log" 2>&1 && grep -q "zaphod is up" "$1/up.log"' \
  _ "/home/$sudoer/my zaphod"
# Read as root: the run directory is closed to the sudoer (0750 root:web user).
check "…with the agent running as root" \
  bash -c 'pid=$(cat "/run/zaphod-${1}b/agent.pid") && [[ -n $pid && $(stat -c %U "/proc/$pid") == root ]]' _ "$tag"
grep -q "zaphod is up" "/home/$sudoer/my zaphod/up.log" || tail -20 "/home/$sudoer/my zaphod/up.log"
check "…and its demo member signs in and sees the demo VM running" \
  env QS_URL="http://127.0.0.1:$port2" QS_USER=demo QS_PASSWORD="$(awk '$1=="demo"{print $2}' "/var/lib/zaphod-${tag}b/demo-passwords")" \
  npx playwright test --config e2e/quickstart/playwright.config.ts --reporter=line member-signs-in
as "$sudoer" ZAPHOD_INSTALL_DIR="/opt/zaphod-${tag}b" ZAPHOD_STATE_DIR="/var/lib/zaphod-${tag}b" ZAPHOD_LOG_DIR="/var/log/zaphod-${tag}b" \
  ZAPHOD_RUN_DIR="/run/zaphod-${tag}b" ZAPHOD_SYSTEMD=0 bash -c 'cd "$1" && bash scripts/down.sh --vms' _ "/home/$sudoer/my zaphod" >/dev/null 2>&1

# A normal user without sudo (or ZAPHOD_UNPRIVILEGED=1): everything runs as them, VMs unconfined,
# state in ~/.local/state, and the host page says so.
plain=${tag}n
clone_for "$plain" "/home/$plain/my zaphod"
port3=$(free_port)
check "as a normal user without root, up.sh runs everything as that user" \
  as "$plain" PORT="$port3" ZAPHOD_UNPRIVILEGED=1 bash -c 'cd "$1" && bash scripts/up.sh >"$1/up.log" 2>&1 && grep -q "zaphod is up" "$1/up.log" &&
    [[ $(stat -c %U /proc/$(cat "$HOME/.local/state/zaphod/run/agent.pid")) == "$USER" ]] && pgrep -u "$USER" -f "umid=demo" >/dev/null' \
  _ "/home/$plain/my zaphod"
grep -q "zaphod is up" "/home/$plain/my zaphod/up.log" || tail -20 "/home/$plain/my zaphod/up.log"
check "…and the admin's host page says the VMs run unconfined" \
  env QS_URL="http://127.0.0.1:$port3" QS_USER=admin QS_PASSWORD="$(awk '$1=="admin"{print $2}' "/home/$plain/.local/state/zaphod/demo-passwords")" \
  npx playwright test --config e2e/quickstart/playwright.config.ts --reporter=line unprivileged-host
as "$plain" ZAPHOD_UNPRIVILEGED=1 bash -c 'cd "$1" && bash scripts/down.sh --vms' _ "/home/$plain/my zaphod" >/dev/null 2>&1

echo "quickstart: $PASSED passed, $FAILED failed"
[[ -n ${REPORT:-} ]] &&
  printf '{"numPassedTests":%d,"numFailedTests":%d,"numPendingTests":0}\n' "$PASSED" "$FAILED" >"$REPORT"
((FAILED == 0))
