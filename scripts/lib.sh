# Shared helpers for scripts/up.sh and scripts/test.sh. Sourced, not run.
# Everything here is idempotent: running a script twice does no harm and little work.

set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$PATH"
export NEXT_TELEMETRY_DISABLED=1
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
warn() { printf '\033[33mwarning:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root to run: $* (install sudo or run as root)"; fi
}

# ensure_debian_packages PKG… — installs the missing ones (one apt-get update, only if needed).
ensure_debian_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  say "installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_node_modules — `npm ci` when node_modules is missing or the lockfile changed since.
ensure_node_modules() {
  local want have=""
  want=$(sha256sum package-lock.json | cut -c1-64)
  [[ -f node_modules/.zaphod-lock ]] && have=$(cat node_modules/.zaphod-lock)
  if [[ $want != "$have" ]]; then
    say "installing npm packages (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want" >node_modules/.zaphod-lock
  fi
}

# source_hash — a hash of the contents of everything the build reads (tracked and untracked files,
# not git's view of them), so a clone of the same tree reuses a copied build.
BUILD_INPUTS=(app components server public prisma scripts/build-dist.mjs next.config.ts postcss.config.mjs proxy.ts tsconfig.json package-lock.json)
source_hash() {
  git ls-files -z -co --exclude-standard -- "${BUILD_INPUTS[@]}" 2>/dev/null | sort -z |
    while IFS= read -r -d '' f; do [[ -f $f ]] && printf '%s  %s\n' "$(sha256sum <"$f" | cut -c1-64)" "$f"; done |
    sha256sum | cut -c1-64
}

# ensure_build — `next build` and the compiled processes in dist/ (scripts/build-dist.mjs), only
# when a build input changed.
ensure_build() {
  local want have=""
  want=$(source_hash)
  [[ -f .next/.zaphod-source ]] && have=$(cat .next/.zaphod-source)
  if [[ $want != "$have" || ! -f .next/BUILD_ID || ! -f dist/web.mjs ]]; then
    say "building the web tier and the agent (next build, dist/)"
    { npx next build && node scripts/build-dist.mjs; } >.cache/next-build.log 2>&1 ||
      { tail -40 .cache/next-build.log; die "the build failed (full log: .cache/next-build.log)"; }
    echo "$want" >.next/.zaphod-source
  fi
}

# resolve_layout — where an install lives. As root (the production shape): built code copied into
# a root-owned release under /opt/zaphod, state under /var/lib/zaphod, logs under /var/log/zaphod,
# the socket and pid files under /run/zaphod; the clone itself may sit anywhere (a 0700 home, a
# path with spaces), because nothing runs from it. Without root: the clone's own built tree, run
# as you, with state under ~/.local/state/zaphod (never in the clone: UML splits its command line
# on spaces). Every directory can be moved with a ZAPHOD_* variable (the tests do).
resolve_layout() {
  PORT=${PORT:-3000}
  if [[ $(id -u) -eq 0 ]]; then
    MODE=root
    INSTALL=${ZAPHOD_INSTALL_DIR:-/opt/zaphod}
    STATE=${ZAPHOD_STATE_DIR:-/var/lib/zaphod}
    LOGS=${ZAPHOD_LOG_DIR:-/var/log/zaphod}
    RUN=${ZAPHOD_RUN_DIR:-/run/zaphod}
    WEB_USER=${ZAPHOD_WEB_USER:-zaphod}
    RELEASE=$INSTALL/current
  else
    MODE=user
    INSTALL=$ROOT
    STATE=${ZAPHOD_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/zaphod}
    LOGS=${ZAPHOD_LOG_DIR:-$STATE/logs}
    RUN=${ZAPHOD_RUN_DIR:-$STATE/run}
    WEB_USER=$(id -un)
    RELEASE=$ROOT
  fi
  AGENT_SOCKET=${ZAPHOD_AGENT_SOCKET:-$RUN/agent.sock}
  LISTEN=${ZAPHOD_LISTEN:-127.0.0.1:$PORT}
  local scheme=http
  [[ -n ${ZAPHOD_TLS_CERT:-} ]] && scheme=https
  URL=$scheme://$LISTEN
  [[ $LISTEN == 0.0.0.0:* || $LISTEN == "[::]:"* ]] && URL=$scheme://127.0.0.1:${LISTEN##*:}
  ORIGINS=${ZAPHOD_ORIGINS:-$scheme://127.0.0.1:${LISTEN##*:},$scheme://localhost:${LISTEN##*:}}
  export ZAPHOD_NODE=${ZAPHOD_NODE:-$(command -v node)} ZAPHOD_RELEASE_DIR=$RELEASE ZAPHOD_STATE_DIR=$STATE \
    ZAPHOD_LOG_DIR=$LOGS ZAPHOD_RUN_DIR=$RUN ZAPHOD_AGENT_SOCKET=$AGENT_SOCKET ZAPHOD_WEB_USER=$WEB_USER \
    ZAPHOD_AGENT_USER=$(id -un) ZAPHOD_LISTEN=$LISTEN ZAPHOD_ORIGINS=$ORIGINS
}

# service_exec NAME — fills SVC_USER, SVC_DIR, SVC_ENV (KEY=VALUE…) and SVC_ARGV from the one
# description of the service (scripts/services.mjs).
service_exec() {
  local -a spec=()
  local item seen=0
  mapfile -d '' spec < <(node scripts/services.mjs exec "$1") || true
  ((${#spec[@]} > 2)) || die "scripts/services.mjs could not describe $1"
  SVC_USER=${spec[0]} SVC_DIR=${spec[1]} SVC_ENV=() SVC_ARGV=()
  for item in "${spec[@]:2}"; do
    if ((seen)); then SVC_ARGV+=("$item")
    elif [[ $item == -- ]]; then seen=1
    else SVC_ENV+=("$item"); fi
  done
}

# pid_is NAME PIDFILE — true when the pid file names a live process running that service's program.
pid_is() {
  local pid
  [[ -f $2 ]] || return 1
  pid=$(cat "$2")
  [[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "dist/$1.mjs"
}

# socket_answers PATH — true when something accepts connections on that Unix socket.
socket_answers() {
  [[ -S $1 ]] && timeout 3 node -e 'require("node:net").connect(process.argv[1]).on("connect", () => process.exit(0)).on("error", () => process.exit(1))' "$1"
}

# stop_pid NAME PIDFILE — TERM, up to 10 s, then KILL; only that pid, and only if it is that service.
stop_pid() {
  local pid i
  pid_is "$1" "$2" || { rm -f "$2"; return 0; }
  pid=$(cat "$2")
  say "stopping $1 (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && { warn "$1 (pid $pid) did not stop in 10 s: killing it"; kill -KILL "$pid" 2>/dev/null || true; }
  rm -f "$2"
}

# Packages only the build and the tests need; a release runs without them.
DEV_ONLY_PACKAGES=(@biomejs @playwright playwright playwright-core typescript vitest @vitest vite @rolldown rolldown
  @types @electric-sql prisma @prisma/schema-engine-wasm esbuild @esbuild tsx .cache)

# install_release — copies the built tree into a root-owned release ($INSTALL/releases/ID, ID from
# the build's source hash) and points $INSTALL/current at it; keeps the previous one for a rollback.
install_release() {
  local id rel tmp old
  id=$(cut -c1-16 .next/.zaphod-source)
  rel=$INSTALL/releases/$id
  install -d -m 0755 -o root -g root "$INSTALL" "$INSTALL/releases"
  if [[ ! -f $rel/.complete ]]; then
    say "installing release $id into $rel"
    tmp=$(mktemp -d "$INSTALL/releases/.new.XXXXXX")
    cp -a dist package.json next.config.ts "$tmp/"
    [[ -d public ]] && cp -a public "$tmp/"
    mkdir -p "$tmp/.next" "$tmp/bin"
    cp -a .next/. "$tmp/.next/"
    rm -rf "$tmp/.next/cache"
    cp -a bin/zaphod "$tmp/bin/"
    cp -a node_modules "$tmp/"
    (cd "$tmp/node_modules" && rm -rf -- "${DEV_ONLY_PACKAGES[@]}")
    chown -R root:root "$tmp"
    chmod -R u+rwX,go+rX,go-w "$tmp"
    chmod 0755 "$tmp"
    touch "$tmp/.complete"
    rm -rf "$rel"
    mv "$tmp" "$rel"
  fi
  old=$(readlink "$INSTALL/current" 2>/dev/null || true)
  if [[ $old != "releases/$id" ]]; then
    ln -sfn "releases/$id" "$INSTALL/.current.new"
    mv -Tf "$INSTALL/.current.new" "$INSTALL/current"
    [[ -n $old ]] && ln -sfn "$old" "$INSTALL/previous"
  fi
  # Only the current and the previous release are kept.
  for d in "$INSTALL"/releases/*; do
    [[ -d $d ]] || continue
    [[ releases/${d##*/} == "releases/$id" || releases/${d##*/} == "$(readlink "$INSTALL/previous" 2>/dev/null)" ]] || rm -rf -- "$d"
  done
}

# test_state_dir — test state that the tests' host users and postgres must reach (e2e/env.ts says
# the same): /var/tmp/zaphod-test-<hash of the clone path> as root (0711), ~/.cache/… otherwise.
test_state_dir() {
  local h
  h=$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)
  if [[ $(id -u) -eq 0 ]]; then ZAPHOD_TEST_STATE=/var/tmp/zaphod-test-$h
  else ZAPHOD_TEST_STATE=${XDG_CACHE_HOME:-$HOME/.cache}/zaphod-test-$h; fi
  install -d -m 0711 "$ZAPHOD_TEST_STATE"
  # A directory someone else made first (its path is predictable) is not root's to trust.
  if [[ $(stat -c %u "$ZAPHOD_TEST_STATE") != $(id -u) || -L $ZAPHOD_TEST_STATE ]]; then
    echo "error: $ZAPHOD_TEST_STATE is not owned by $(id -un): remove it and run again" >&2
    return 1
  fi
  export ZAPHOD_TEST_STATE
  # Compile caches of the TypeScript loaders: Playwright's sits in /tmp/playwright-transform-cache-<uid>
  # and tsx's in /tmp/tsx-<uid>, where any local user could plant code before root's first run.
  export PLAYWRIGHT_TRANSFORM_CACHE_DIR=$ZAPHOD_TEST_STATE/playwright-transform-cache
  [[ $(id -u) -eq 0 ]] && export TSX_DISABLE_CACHE=1
  return 0
}

# install_test_release — as root, the build installed as a release in the test state directory
# ($ZAPHOD_TEST_STATE/e2e-release/current, as up.sh installs into /opt/zaphod): the e2e run's agent,
# web tier and CLI run from it, the web tier and CLI as an unprivileged user. Nothing without root.
install_test_release() {
  [[ $(id -u) -eq 0 ]] || return 0
  [[ -f .next/.zaphod-source ]] || source_hash >.next/.zaphod-source
  INSTALL=$ZAPHOD_TEST_STATE/e2e-release install_release >&2
}

systemd_running() { [[ -d /run/systemd/system ]] && [[ $(id -u) -eq 0 ]] && [[ ${ZAPHOD_SYSTEMD:-1} != 0 ]]; }

mkdir -p .cache .data
