#!/usr/bin/env bash
# Runs a command against the private test PostgreSQL: starts it (scripts/pg-start.sh), exports
# TEST_DATABASE_URL, runs "$@", stops it again (also on failure), exits with the command's status.
#   scripts/pg-run.sh npx vitest run --project integration server/web
set -uo pipefail
cd "$(dirname "$0")/.."
url=$(scripts/pg-start.sh) || exit 1
trap 'scripts/pg-stop.sh' EXIT
TEST_DATABASE_URL="$url" "$@"
