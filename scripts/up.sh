#!/usr/bin/env bash
# Brings zaphod up on this machine: the host agent (root), the web panel on
# http://127.0.0.1:${PORT:-3000} (as the unprivileged system user `zaphod` when run as root),
# a demo admin, a demo member and the member's running demo VM.
# Installs what is missing (Debian and npm packages), builds what changed; safe to run twice.
# Stop with scripts/down.sh (VMs keep running unless you pass --vms).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=${PORT:-3000}
DATA=$ROOT/.data
RUN=$DATA/run
LOGS=$DATA/logs
WEB=$DATA/web          # the web tier's own state: database and auth secret
mkdir -p "$RUN" "$LOGS" "$WEB"
chmod 0711 "$DATA"

ensure_debian_packages user-mode-linux uml-utilities busybox-static e2fsprogs tmux procps util-linux curl
ensure_node_modules

# The web tier runs unprivileged: as root we run it (and the CLI, which writes the same database)
# as the system user `zaphod`, whose group is the agent socket's access control.
if [[ $(id -u) -eq 0 ]]; then
  getent group zaphod >/dev/null || groupadd --system zaphod
  id -u zaphod >/dev/null 2>&1 || useradd --system --gid zaphod --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin zaphod
  chown -R zaphod:zaphod "$WEB"
  AS_WEB=(setpriv --reuid=zaphod --regid=zaphod --init-groups --reset-env -- env PATH="$PATH" HOME=/nonexistent)
else
  AS_WEB=(env)
fi
chmod 0700 "$WEB"

# Secrets and configuration, made once and kept in .data (never committed).
[[ -s $WEB/auth-secret ]] || { (umask 077; head -c 32 /dev/urandom | base64 >"$WEB/auth-secret"); }
[[ $(id -u) -eq 0 ]] && chown zaphod:zaphod "$WEB/auth-secret"
if [[ $(id -u) -eq 0 ]]; then
  AGENT_SOCKET=${ZAPHOD_AGENT_SOCKET:-/run/zaphod/agent.sock}; AGENT_DATA=${ZAPHOD_DATA_DIR:-/var/lib/zaphod}
else
  AGENT_SOCKET=${ZAPHOD_AGENT_SOCKET:-$DATA/agent/run/agent.sock}; AGENT_DATA=${ZAPHOD_DATA_DIR:-$DATA/agent}
fi
export ZAPHOD_AGENT_SOCKET=$AGENT_SOCKET ZAPHOD_DATA_DIR=$AGENT_DATA
WEB_ENV=(
  NODE_ENV=production
  NEXT_TELEMETRY_DISABLED=1
  PORT="$PORT"
  AUTH_SECRET_FILE="$WEB/auth-secret"
  DATABASE_URL="${DATABASE_URL:-file:$WEB/zaphod.db}"
  ZAPHOD_AGENT_SOCKET="$AGENT_SOCKET"
  ZAPHOD_ORIGINS="${ZAPHOD_ORIGINS:-http://127.0.0.1:$PORT,http://localhost:$PORT}"
)
AS_WEB+=("${WEB_ENV[@]}")

is_running() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# start_service NAME COMMAND… — runs it detached with a pid file and a log; skips it when running.
start_service() {
  local name=$1; shift
  if is_running "$RUN/$name.pid"; then say "$name already running (pid $(cat "$RUN/$name.pid"))"; return; fi
  say "starting $name (log: .data/logs/$name.log)"
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

say "migrating the database"
"${AS_WEB[@]}" bin/zaphod migrate
ensure_build

start_service agent npx tsx server/agent/main.ts
for _ in $(seq 150); do [[ -S $AGENT_SOCKET ]] && break; sleep 0.2; done
[[ -S $AGENT_SOCKET ]] || { tail -20 "$LOGS/agent.log"; die "the agent did not come up"; }

if [[ ! -f $AGENT_DATA/images/busybox-1.ext4 ]]; then
  say "building the demo image busybox-1"
  npx tsx server/agent/images/build-busybox.ts --name busybox-1
fi

start_service web "${AS_WEB[@]}" node --import ./server/web/register.mjs server/web/main.ts
for _ in $(seq 300); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/api/health" 2>/dev/null && break; sleep 0.2; done
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/api/health" || { tail -20 "$LOGS/web.log"; die "the web tier did not come up"; }

# Demo accounts and VM (made once; passwords kept in .data/demo-passwords, readable by root only).
if [[ ! -s $DATA/demo-passwords ]]; then
  (umask 077
   printf 'admin %s\ndemo %s\n' "$(head -c 12 /dev/urandom | base64 | tr -d '/+=')" \
     "$(head -c 12 /dev/urandom | base64 | tr -d '/+=')" >"$DATA/demo-passwords")
fi
ADMIN_PW=$(awk '$1=="admin"{print $2}' "$DATA/demo-passwords")
MEMBER_PW=$(awk '$1=="demo"{print $2}' "$DATA/demo-passwords")
say "demo accounts and the demo VM"
printf '%s\n%s\n' "$ADMIN_PW" "$MEMBER_PW" | "${AS_WEB[@]}" bin/zaphod demo-setup

cat <<MSG

  zaphod is up at http://127.0.0.1:$PORT

  Sign in as the demo admin:   admin / $ADMIN_PW
  Sign in as the demo member:  demo  / $MEMBER_PW   (owns the running VM "demo")

  Logs: .data/logs/   Stop: scripts/down.sh   Demo passwords: .data/demo-passwords
MSG
