#!/usr/bin/env bash
# Stops what scripts/up.sh started: the web tier and the agent, by their pid files.
# VMs keep running (they outlive the panel by design); --vms shuts them down cleanly first.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
RUN=$ROOT/.data/run
if [[ ${1:-} == --vms ]]; then
  say "shutting down every VM"
  if [[ $(id -u) -eq 0 ]]; then sock=${ZAPHOD_AGENT_SOCKET:-/run/zaphod/agent.sock}
  else sock=${ZAPHOD_AGENT_SOCKET:-$ROOT/.data/agent/run/agent.sock}; fi
  ZAPHOD_AGENT_SOCKET=$sock npx tsx scripts/shutdown-vms.ts || warn "could not shut down every VM"
fi
for name in web agent; do
  pidfile=$RUN/$name.pid
  if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    say "stopping $name (pid $(cat "$pidfile"))"
    kill -TERM -- "-$(cat "$pidfile")" 2>/dev/null || kill -TERM "$(cat "$pidfile")"
  fi
  rm -f "$pidfile"
done
