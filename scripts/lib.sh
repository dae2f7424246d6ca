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

# source_hash — a hash of everything `next build` reads, to rebuild only when it changed.
source_hash() {
  { git ls-files -s -- app components server public prisma next.config.ts postcss.config.mjs proxy.ts tsconfig.json package-lock.json 2>/dev/null
    git diff --no-ext-diff -- app components server public prisma next.config.ts postcss.config.mjs proxy.ts 2>/dev/null
    git ls-files -o --exclude-standard -- app components server public prisma 2>/dev/null | xargs -r cat 2>/dev/null
  } | sha256sum | cut -c1-64
}

ensure_build() {
  local want have=""
  want=$(source_hash)
  [[ -f .next/.zaphod-source ]] && have=$(cat .next/.zaphod-source)
  if [[ $want != "$have" || ! -f .next/BUILD_ID ]]; then
    say "building the web tier (next build)"
    npx next build >.cache/next-build.log 2>&1 || { tail -40 .cache/next-build.log; die "next build failed (full log: .cache/next-build.log)"; }
    echo "$want" >.next/.zaphod-source
  fi
}

mkdir -p .cache .data
