#!/usr/bin/env bash
# Brings zaphod up on this machine: the host agent (root), the web panel on
# http://127.0.0.1:${PORT:-3000} (as the unprivileged system user `zaphod`), a demo admin, a demo
# member and the member's running demo VM.
#
# As root, or as a user with sudo, it installs the production shape (scripts/lib.sh
# resolve_layout): the built code copied into a root-owned release under /opt/zaphod, state in
# /var/lib/zaphod, logs in /var/log/zaphod, and systemd units when systemd runs (a detached start
# otherwise), so the clone can sit anywhere. Without root or sudo (or with ZAPHOD_UNPRIVILEGED=1)
# everything runs as you from the clone's build, VMs unconfined, state in ~/.local/state/zaphod.
# Installs what is missing (Debian and npm packages), builds what changed; safe to run twice.
# Stop with scripts/down.sh (VMs keep running unless you pass --vms).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUILT=0
[[ ${1:-} == --built ]] && BUILT=1

ensure_debian_packages user-mode-linux uml-utilities busybox-static e2fsprogs tmux procps util-linux curl gcc libc6-dev bubblewrap iproute2 \
  genisoimage openssh-client dropbear-bin dnsmasq-base mmdebstrap

# A user with sudo: build here, as you, then install and run the production shape as root.
if [[ $(id -u) -ne 0 && ${ZAPHOD_UNPRIVILEGED:-0} != 1 ]] && command -v sudo >/dev/null; then
  ensure_node_modules
  ensure_build
  say "installing and starting as root (sudo)"
  pass=()
  for v in PORT ZAPHOD_LISTEN ZAPHOD_ORIGINS ZAPHOD_TLS_CERT ZAPHOD_TLS_KEY ZAPHOD_INSTALL_DIR ZAPHOD_STATE_DIR \
    ZAPHOD_LOG_DIR ZAPHOD_RUN_DIR ZAPHOD_AGENT_SOCKET ZAPHOD_HOST_USER_PREFIX ZAPHOD_SOCKET_GROUP ZAPHOD_WEB_USER \
    ZAPHOD_SYSTEMD ZAPHOD_DEMO_PASSWORDS ZAPHOD_NET_NETNS ZAPHOD_NET_MODE ZAPHOD_NET_SUBNET ZAPHOD_NET_GATEWAY \
    ZAPHOD_NET_IPV6_PREFIX ZAPHOD_NET_BRIDGE ZAPHOD_NET_FORWARD_ADDRESS ZAPHOD_DEMO_SSH_PORT; do
    [[ -n ${!v:-} ]] && pass+=("$v=${!v}")
  done
  exec sudo env "${pass[@]}" bash "$ROOT/scripts/up.sh" --built
fi

resolve_layout
if ((!BUILT)) || [[ ! -f dist/web.mjs ]]; then
  ensure_node_modules
  ensure_build
fi

if [[ $MODE == root ]]; then
  # The web tier runs unprivileged, as the system user whose group opens the agent socket.
  getent group "$WEB_USER" >/dev/null || groupadd --system "$WEB_USER"
  id -u "$WEB_USER" >/dev/null 2>&1 ||
    useradd --system --gid "$WEB_USER" --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$WEB_USER"
  export ZAPHOD_SOCKET_GROUP=${ZAPHOD_SOCKET_GROUP:-$WEB_USER}
  install_release
  install -d -m 0755 -o root -g root "$STATE"
  install -d -m 0700 -o "$WEB_USER" -g "$WEB_USER" "$STATE/web"
  install -d -m 0750 -o root -g "$WEB_USER" "$LOGS" "$RUN"
  install -d -m 0750 -o "$WEB_USER" -g "$WEB_USER" "$LOGS/web"
  AS_WEB=(setpriv --reuid="$WEB_USER" --regid="$WEB_USER" --init-groups --reset-env --)
else
  mkdir -p "$STATE/web" "$LOGS/web" "$RUN"
  chmod 0700 "$STATE/web"
  chmod 0750 "$LOGS" "$LOGS/web"
  AS_WEB=()
fi

# The auth secret, made once (never in the clone, never committed).
if [[ ! -s $STATE/web/auth-secret ]]; then
  (umask 077; head -c 32 /dev/urandom | base64 >"$STATE/web/auth-secret")
  [[ $MODE == root ]] && chown "$WEB_USER:$WEB_USER" "$STATE/web/auth-secret"
fi
# bin/zaphod (in the release or the clone) reads this to reach the same database as the panel.
node scripts/services.mjs env web >"$STATE/web.env.tmp" && mv -f "$STATE/web.env.tmp" "$STATE/web.env"
chmod 0644 "$STATE/web.env"

# cli ARGS… — the host admin CLI of the release, as the web tier's user with its environment.
cli() {
  service_exec web
  "${AS_WEB[@]}" env -i -C "$SVC_DIR" "${SVC_ENV[@]}" "$ZAPHOD_NODE" "$RELEASE/dist/cli.mjs" "$@"
}

# log_of NAME — the log file the service writes itself.
log_of() { if [[ $1 == web ]]; then echo "$LOGS/web/web.log"; else echo "$LOGS/$1.log"; fi; }

# show_log NAME — the end of a service's own log and of what it printed before opening it.
show_log() {
  local f
  for f in "$LOGS/$1.out" "$(log_of "$1")"; do
    [[ -s $f ]] && { echo "--- $f" >&2; tail -20 "$f" >&2; }
  done
  return 0
}

# start_detached NAME — the fallback without systemd: the description's user, directory,
# environment and program, in a session of its own, its real pid in $RUN/NAME.pid.
start_detached() {
  local name=$1 pid
  service_exec "$name"
  local -a as=()
  [[ $MODE == root && $SVC_USER != root ]] && as=("${AS_WEB[@]}")
  say "starting $name (log: $(log_of "$name"))"
  (umask 027; setsid "${as[@]}" env -i -C "$SVC_DIR" "${SVC_ENV[@]}" "${SVC_ARGV[@]}" >>"$LOGS/$name.out" 2>&1 </dev/null &
   echo $! >"$RUN/$name.pid")
  pid=$(cat "$RUN/$name.pid")
  readlink -f "$RELEASE" >"$RUN/$name.release"
  pid_is "$name" "$RUN/$name.pid" || { sleep 0.3; pid_is "$name" "$RUN/$name.pid"; } ||
    { show_log "$name"; die "$name exited at start (pid $pid; log: $(log_of "$name"))"; }
}

# start_unit NAME — installs the description as a systemd unit, enables it (so it starts at boot)
# and (re)starts it when its unit or release changed.
start_unit() {
  local name=$1 unit=/etc/systemd/system/zaphod-$1.service changed=0
  node scripts/services.mjs unit "$name" >"$unit.tmp"
  if ! cmp -s "$unit.tmp" "$unit"; then mv -f "$unit.tmp" "$unit"; changed=1; else rm -f "$unit.tmp"; fi
  ((changed)) && systemctl daemon-reload
  systemctl enable --quiet "zaphod-$name.service"
  if ((changed)) || [[ $(cat "$RUN/$name.release" 2>/dev/null) != "$(readlink -f "$RELEASE")" ]]; then
    say "(re)starting zaphod-$name.service"
    systemctl restart "zaphod-$name.service"
  else
    systemctl start "zaphod-$name.service"
  fi
  readlink -f "$RELEASE" >"$RUN/$name.release"
  systemctl show -p MainPID --value "zaphod-$name.service" >"$RUN/$name.pid"
}

# ensure_service NAME — running the current release after this, or a clear failure.
ensure_service() {
  local name=$1
  if systemd_running; then start_unit "$name"; return; fi
  if pid_is "$name" "$RUN/$name.pid"; then
    if [[ $(cat "$RUN/$name.release" 2>/dev/null) == "$(readlink -f "$RELEASE")" ]]; then
      say "$name already running (pid $(cat "$RUN/$name.pid"))"
      return
    fi
    say "restarting $name on the new release (VMs keep running)"
    stop_pid "$name" "$RUN/$name.pid"
  fi
  start_detached "$name"
}

# wait_until NAME SECONDS TEST… — polls TEST while the service lives; fails with its log when it dies.
wait_until() {
  local name=$1 seconds=$2 deadline=$((SECONDS + $2))
  shift 2
  # Bounded by the clock, not a count: one probe may itself take seconds (a port that never answers).
  while ((SECONDS < deadline)); do
    "$@" && return 0
    if ! pid_is "$name" "$RUN/$name.pid"; then
      show_log "$name"
      die "$name exited while starting (log: $(log_of "$name"))"
    fi
    sleep 0.2
  done
  show_log "$name"
  die "$name did not come up within $seconds s (log: $(log_of "$name"))"
}

# An agent this script did not start must not be mistaken for ours.
if [[ -S $AGENT_SOCKET ]] && ! pid_is agent "$RUN/agent.pid" && socket_answers "$AGENT_SOCKET"; then
  die "an agent that scripts/up.sh did not start answers on $AGENT_SOCKET; stop it first (scripts/down.sh cannot: it has no pid file)"
fi

say "migrating the database"
cli migrate
ensure_service agent
wait_until agent 30 socket_answers "$AGENT_SOCKET"

if [[ ! -f $STATE/images/busybox-1.ext4 ]]; then
  say "building the demo image busybox-1"
  env -i PATH="$PATH" ZAPHOD_DATA_DIR="$STATE" "$ZAPHOD_NODE" "$RELEASE/dist/build-busybox.mjs" --name busybox-1
  [[ -f $STATE/images/busybox-1.ext4 ]] || die "the demo image was not built ($STATE/images/busybox-1.ext4)"
fi

ensure_service web
health() { curl -fsk --max-time 3 -o /dev/null "$URL/api/health" 2>/dev/null; }
wait_until web 60 health

# Demo accounts and VM (made once; passwords kept readable by root, or you, only).
PASSWORDS=${ZAPHOD_DEMO_PASSWORDS:-$STATE/demo-passwords}
if [[ ! -s $PASSWORDS ]]; then
  (umask 077
   printf 'admin %s\ndemo %s\n' "$(head -c 12 /dev/urandom | base64 | tr -d '/+=')" \
     "$(head -c 12 /dev/urandom | base64 | tr -d '/+=')" >"$PASSWORDS")
fi
ADMIN_PW=$(awk '$1=="admin"{print $2}' "$PASSWORDS")
MEMBER_PW=$(awk '$1=="demo"{print $2}' "$PASSWORDS")
# SSH into the demo VM (a forward on 127.0.0.1 that the agent relays into the VMs' namespace): a
# demo key made here, and the public keys of whoever ran this, as the demo member's keys.
SSH_PORT=${ZAPHOD_DEMO_SSH_PORT:-2201}
DEMO_KEY=$STATE/demo-ssh-key
if [[ ! -s $DEMO_KEY ]] && command -v ssh-keygen >/dev/null; then
  (umask 077; ssh-keygen -q -t ed25519 -N '' -C "zaphod-demo@$(hostname)" -f "$DEMO_KEY")
fi
keys=()
[[ -s $DEMO_KEY.pub ]] && keys+=("$(head -n 1 "$DEMO_KEY.pub")")
# Yours are read as you (root does not follow paths in your home).
me=${SUDO_USER:-$(id -un)}
as_me=(); [[ $me != "$(id -un)" ]] && as_me=(runuser -u "$me" --)
for f in "$(getent passwd "$me" | cut -d: -f6)"/.ssh/id_{ed25519,ecdsa,rsa}.pub; do
  k=$("${as_me[@]}" head -c 16384 -- "$f" 2>/dev/null | head -n 1) && [[ -n $k ]] && keys+=("$k")
done
say "demo accounts and the demo VM"
demo_out=$(printf '%s\n' "$ADMIN_PW" "$MEMBER_PW" "${keys[@]}" | cli demo-setup --ssh-port "$SSH_PORT") ||
  { printf '%s\n' "$demo_out"; die "the demo setup failed"; }
printf '%s\n' "$demo_out"
ssh_line=$(sed -n 's/^SSH to demo: //p' <<<"$demo_out" | head -n 1)

if [[ $MODE == user ]]; then
  boot="VMs run as $(id -un), unconfined (no root): see /admin/host."
elif systemd_running; then
  boot="systemd units zaphod-agent and zaphod-web are enabled: the panel and autostart VMs come back at boot."
else
  boot="systemd is not running here (PID 1 is $(ps -p 1 -o comm=)): nothing will start at boot; run scripts/up.sh after a restart."
fi
# The demo key is the installing user's (root's, 0600): someone who ran this with sudo needs it again.
key_prefix=""
[[ $(id -u) -eq 0 && -n ${SUDO_USER:-} && $SUDO_USER != root ]] && key_prefix="sudo "
cat <<MSG

  zaphod is up at $URL

  Sign in as the demo admin:   admin / $ADMIN_PW
  Sign in as the demo member:  demo  / $MEMBER_PW   (owns the running VM "demo")

  SSH into the demo VM:        ${ssh_line:-no network (see /admin/network)}${ssh_line:+   (or: $key_prefix$ssh_line -i $DEMO_KEY)}

  Logs: $LOGS   State: $STATE   Stop: scripts/down.sh   Demo passwords: $PASSWORDS
  $boot
MSG
