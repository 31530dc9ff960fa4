#!/usr/bin/env bash
# What `npm test` runs: dependencies, then PostgreSQL and Redis, then vitest.
#   npm test                          # every test
#   npm test -- test/foo.test.ts      # arguments go to `vitest run`
# Tests create their own databases and Redis key prefixes on the servers named below.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/retrace}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"

# npm writes node_modules/.package-lock.json on every install, so it dates the install better than
# the directory itself, whose time only changes when a top-level entry is added or removed.
installed=node_modules/.package-lock.json
[[ -e $installed ]] || installed=node_modules
if [[ -f package-lock.json ]]; then
  if [[ ! -d node_modules || package-lock.json -nt $installed ]]; then
    echo "test.sh: installing dependencies (npm ci)" >&2
    npm ci --no-audit --no-fund
  fi
elif [[ ! -d node_modules || package.json -nt $installed ]]; then
  echo "test.sh: no package-lock.json; installing dependencies (npm install)" >&2
  npm install --no-audit --no-fund
fi

bash infra/services.sh

exec npx vitest run "$@"
