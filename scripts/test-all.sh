#!/usr/bin/env bash
# Every test, from whatever this machine has: the offline suites first (they
# need nothing but npm packages, so a missing service never hides them), then
# whatever the integration suite needs is installed if missing (quick when it
# is all there), then the integration suite on real PostgreSQL, MinIO and moto.
# Exits non-zero if any part failed; extra arguments go to both jest runs.
set -uo pipefail
cd "$(dirname "$0")/.."

status=0
if [ ! -x node_modules/.bin/jest ]; then
  echo "== npm packages (missing)"
  npm install --no-audit --no-fund || exit 1
fi

echo "== tools the offline suites use (jq, shellcheck; missing only)"
bash scripts/install-tools.sh || status=1

echo "== offline suites (unit, failover, README commands)"
npx jest --selectProjects unit failover commands "$@" || status=1

echo "== services for the integration suite"
if bash scripts/install-services.sh; then
  echo "== integration suite"
  npx jest --selectProjects integration --runInBand "$@" || status=1
else
  echo "test-all: the integration services could not be installed (above); the integration suite did not run" >&2
  status=1
fi

if [ "$status" -ne 0 ]; then
  echo "test-all: FAILED (see above)" >&2
fi
exit "$status"
