#!/usr/bin/env bash
# Stops what scripts/up.sh started: the web tier and the agent (systemd units, or the detached
# processes by the real pids in their pid files). VMs keep running (they outlive the panel by
# design); --vms shuts them down cleanly first. Takes the same ZAPHOD_* variables as up.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ $(id -u) -ne 0 && ${ZAPHOD_UNPRIVILEGED:-0} != 1 ]] && command -v sudo >/dev/null; then
  pass=()
  for v in ZAPHOD_INSTALL_DIR ZAPHOD_STATE_DIR ZAPHOD_LOG_DIR ZAPHOD_RUN_DIR ZAPHOD_AGENT_SOCKET ZAPHOD_SYSTEMD; do
    [[ -n ${!v:-} ]] && pass+=("$v=${!v}")
  done
  exec sudo env "${pass[@]}" bash "$ROOT/scripts/down.sh" "$@"
fi
resolve_layout

if [[ ${1:-} == --vms ]] && socket_answers "$AGENT_SOCKET"; then
  say "shutting down every VM"
  env -i PATH="$PATH" ZAPHOD_AGENT_SOCKET="$AGENT_SOCKET" "$ZAPHOD_NODE" "$RELEASE/dist/shutdown-vms.mjs" ||
    warn "could not shut down every VM"
fi
for name in web agent; do
  if systemd_running && systemctl is-enabled --quiet "zaphod-$name.service" 2>/dev/null; then
    say "stopping zaphod-$name.service"
    systemctl stop "zaphod-$name.service"
    rm -f "$RUN/$name.pid"
  else
    stop_pid "$name" "$RUN/$name.pid"
  fi
done
