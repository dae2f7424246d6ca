#!/usr/bin/env bash
# Brings zaphod up on this machine: the host agent (root), the web panel on
# http://127.0.0.1:${PORT:-3000}, a demo admin, a demo member and the member's running demo VM.
# Installs what is missing (Debian and npm packages), builds what changed; safe to run twice.
# Stop with scripts/down.sh (VMs keep running unless you pass --vms).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=${PORT:-3000}
DATA=$ROOT/.data
RUN=$DATA/run
LOGS=$DATA/logs
mkdir -p "$RUN" "$LOGS"
chmod 0750 "$DATA"

ensure_debian_packages user-mode-linux uml-utilities busybox-static e2fsprogs tmux procps
ensure_node_modules

# Secrets and configuration, made once and kept in .data (never committed).
if [[ ! -s $DATA/auth-secret ]]; then
  (umask 077; head -c 32 /dev/urandom | base64 >"$DATA/auth-secret")
fi
export AUTH_SECRET_FILE=$DATA/auth-secret
export DATABASE_URL=${DATABASE_URL:-file:$DATA/zaphod.db}
export ZAPHOD_AGENT_SOCKET=${ZAPHOD_AGENT_SOCKET:-$RUN/agent.sock}
export ZAPHOD_DATA_DIR=${ZAPHOD_DATA_DIR:-$DATA/agent}
export ZAPHOD_ORIGINS=${ZAPHOD_ORIGINS:-http://127.0.0.1:$PORT,http://localhost:$PORT}
export PORT

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
bin/zaphod migrate
ensure_build

start_service agent npx tsx server/agent/main.ts
for _ in $(seq 100); do [[ -S $ZAPHOD_AGENT_SOCKET ]] && break; sleep 0.2; done
[[ -S $ZAPHOD_AGENT_SOCKET ]] || { tail -20 "$LOGS/agent.log"; die "the agent did not come up"; }

start_service web env NODE_ENV=production npx tsx server/web/main.ts
for _ in $(seq 150); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/login" 2>/dev/null && break; sleep 0.2; done
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/login" || { tail -20 "$LOGS/web.log"; die "the web tier did not come up"; }

# Demo accounts (created once; passwords kept in .data/demo-passwords).
if [[ ! -s $DATA/demo-passwords ]]; then
  (umask 077
   printf 'admin %s\nmember %s\n' "$(head -c 12 /dev/urandom | base64 | tr -d '/+=')" \
     "$(head -c 12 /dev/urandom | base64 | tr -d '/+=')" >"$DATA/demo-passwords")
fi
ADMIN_PW=$(awk '$1=="admin"{print $2}' "$DATA/demo-passwords")
MEMBER_PW=$(awk '$1=="member"{print $2}' "$DATA/demo-passwords")
bin/zaphod demo-setup --admin admin --member demo <<<"$ADMIN_PW
$MEMBER_PW"

cat <<MSG

  zaphod is up at http://127.0.0.1:$PORT

  Demo admin:   admin / $ADMIN_PW
  Demo member:  demo  / $MEMBER_PW   (owns the VM "demo")

  Logs: .data/logs/   Stop: scripts/down.sh   Everything is kept in .data/
MSG
