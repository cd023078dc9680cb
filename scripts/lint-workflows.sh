#!/usr/bin/env bash
# Lints .github/workflows with actionlint, installed from the Go module proxy
# when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
GOBIN_DIR="$(go env GOBIN 2>/dev/null || true)"
[ -n "$GOBIN_DIR" ] || GOBIN_DIR="$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
export PATH="$PATH:$GOBIN_DIR"
if ! command -v actionlint >/dev/null 2>&1; then
  go install github.com/rhysd/actionlint/cmd/actionlint@latest
fi
actionlint -no-color .github/workflows/*.yml
echo "workflows: actionlint found nothing"
