#!/usr/bin/env bash
# Playwright's webServer, in the production privilege split (as scripts/up.sh, issue 11 point 11):
# as root, the build is installed as a root-owned release in the test state directory (lib.sh
# `install_release`; the clone may sit in a 0700 home), the run's own host agent starts from it as
# root (e2e/agent-stack.ts: data dir and socket in the test state directory, unique host-user
# prefix and socket group, an unprivileged web user in that group; stopped by the global
# teardown), then the host CLI migrates and seeds a fresh SQLite database (an admin and an active
# member) and the production server (dist/web.mjs) runs, both as that web user. Without root all
# of it runs as you from the clone. Needs `next build` and dist/ first.
# exec, so Playwright's stop signal reaches the server itself.
source "$(dirname "$0")/../scripts/lib.sh"
test_state_dir
[[ -f .next/BUILD_ID && -f dist/web.mjs ]] || die "e2e: build first (scripts/test.sh build, or npm run build)"
# A previous run that died before its teardown: stop its VMs, agent and web tier, delete its users.
node --import tsx e2e/agent-stack.ts cleanup
rm -rf .data/e2e
mkdir -p .data/e2e
install_test_release
if [[ $(id -u) -eq 0 ]]; then RELEASE=$ZAPHOD_TEST_STATE/e2e-release/current; else RELEASE=$ROOT; fi
node --import tsx e2e/agent-stack.ts start
mapfile -d '' AS_WEB < <(node --import tsx e2e/agent-stack.ts as-web)
[[ $(id -u) -ne 0 || ${#AS_WEB[@]} -gt 0 ]] || die "e2e: no web user to run the web tier as"
NODE=$(command -v node)
cd "$RELEASE"
"${AS_WEB[@]}" "$NODE" dist/cli.mjs migrate >/dev/null
printf '%s\n' "$E2E_ADMIN_PASSWORD" | "${AS_WEB[@]}" "$NODE" dist/cli.mjs create-admin admin --email admin@example.org --name "Ada Admin" >/dev/null
printf '%s\n' "$E2E_MEMBER_PASSWORD" | "${AS_WEB[@]}" "$NODE" dist/cli.mjs create-user member --email member@example.org --name "Max Member" >/dev/null
export NODE_ENV=production
exec "${AS_WEB[@]}" "$NODE" dist/web.mjs
