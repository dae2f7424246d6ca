#!/usr/bin/env bash
# Playwright's webServer: a fresh SQLite database under .data/e2e, migrated and seeded with the CLI
# (an admin and an active member), the run's own host agent (e2e/agent-stack.ts: temp data dir and
# socket under .data/e2e/agent, unique host-user prefix; stopped by the global teardown), then the
# production server (needs `next build` first).
# exec, so Playwright's stop signal reaches the server itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f .next/BUILD_ID ] || { echo "e2e: run 'npm run build' first" >&2; exit 1; }
# A previous run that died before its teardown: stop its VMs and agent, delete its host users.
node --import tsx e2e/agent-stack.ts cleanup
rm -rf .data/e2e
mkdir -p .data/e2e
node --import tsx e2e/agent-stack.ts start
bin/zaphod migrate >/dev/null
printf '%s\n' "$E2E_ADMIN_PASSWORD" | bin/zaphod create-admin admin --email admin@example.org --name "Ada Admin" >/dev/null
printf '%s\n' "$E2E_MEMBER_PASSWORD" | bin/zaphod create-user member --email member@example.org --name "Max Member" >/dev/null
export NODE_ENV=production
exec node --import ./server/web/register.mjs server/web/main.ts
