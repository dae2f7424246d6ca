#!/usr/bin/env bash
# The systemd units up.sh installs, made from scripts/services.mjs for the default layout, checked
# with systemd's own tools (both work without a running systemd): `systemd-analyze verify`, and
# `systemd-analyze security --offline=yes` with the web tier's exposure at most 5.0.
set -euo pipefail
[[ -n ${REPORT:-} ]] && REPORT=$(realpath -m -- "$REPORT")
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export ZAPHOD_NODE=$(command -v node) ZAPHOD_RELEASE_DIR=/opt/zaphod/current ZAPHOD_STATE_DIR=/var/lib/zaphod \
  ZAPHOD_LOG_DIR=/var/log/zaphod ZAPHOD_RUN_DIR=/run/zaphod ZAPHOD_AGENT_SOCKET=/run/zaphod/agent.sock \
  ZAPHOD_LISTEN=127.0.0.1:3000 ZAPHOD_ORIGINS=http://127.0.0.1:3000,http://localhost:3000
for name in agent web; do node scripts/services.mjs unit "$name" >"$dir/zaphod-$name.service"; done
cd "$dir"
failed=0
if out=$(systemd-analyze verify --man=no ./zaphod-agent.service ./zaphod-web.service 2>&1) && [[ -z $out ]]; then
  echo "ok: systemd-analyze verify (zaphod-agent.service, zaphod-web.service)"
else
  echo "FAIL: systemd-analyze verify:"; echo "$out"; failed=$((failed + 1))
fi
score=$(systemd-analyze security --offline=yes ./zaphod-web.service 2>&1 | sed -n 's/.*Overall exposure level for zaphod-web.service: \([0-9.]*\).*/\1/p')
if [[ -n $score ]] && awk -v s="$score" 'BEGIN { exit !(s <= 5.0) }'; then
  echo "ok: zaphod-web.service exposure $score (at most 5.0)"
else
  echo "FAIL: zaphod-web.service exposure '${score:-unknown}' (must be at most 5.0)"; failed=$((failed + 1))
fi
agent=$(systemd-analyze security --offline=yes ./zaphod-agent.service 2>&1 | sed -n 's/.*Overall exposure level for zaphod-agent.service: \([0-9.]*\).*/\1/p')
echo "info: zaphod-agent.service exposure ${agent:-unknown} (root by design: it creates users, namespaces and VMs)"
echo "$((2 - failed)) passed, $failed failed"
[[ -n ${REPORT:-} ]] && printf '{"numPassedTests":%d,"numFailedTests":%d,"numPendingTests":0}\n' "$((2 - failed))" "$failed" >"$REPORT"
exit $failed
