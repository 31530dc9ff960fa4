#!/usr/bin/env bash
# What `npm run demo` runs: dependencies, PostgreSQL and Redis, then the demo itself
# (migrations, API and workers, a simulated platform pushing data, a summary).
#   npm run demo               # keeps serving until Ctrl-C
#   npm run demo -- --exit     # stops after the summary
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export NODE_ENV="${NODE_ENV:-development}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/retrace}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export REDIS_PREFIX="${REDIS_PREFIX:-retrace-demo}"
export PORT="${PORT:-8080}"
export LOG_LEVEL="${LOG_LEVEL:-warn}"

installed=node_modules/.package-lock.json
if [[ ! -e $installed || package-lock.json -nt $installed ]]; then
  echo "demo: installing dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi

bash infra/services.sh

exec node_modules/.bin/tsx src/demo/run-demo.ts "$@"
