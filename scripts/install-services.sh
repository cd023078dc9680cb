#!/usr/bin/env bash
# Installs the real services the integration suite starts on loopback:
# PostgreSQL (Debian), MinIO and mc (go install), moto's server (PyPI).
# Idempotent: each step is skipped when the tool is already there.
set -euo pipefail

export PATH="$PATH:$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || ! command -v pg_dump >/dev/null 2>&1; then
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends postgresql postgresql-client
fi

command -v minio >/dev/null 2>&1 || go install github.com/minio/minio@latest
command -v mc >/dev/null 2>&1 || go install github.com/minio/mc@latest

if ! command -v moto_server >/dev/null 2>&1 || ! python3 -c "import moto, flask" >/dev/null 2>&1; then
  python3 -m pip install --quiet 'moto[server]'
fi

echo "services installed: $(ls -d /usr/lib/postgresql/*/ | tr '\n' ' ') minio=$(command -v minio) mc=$(command -v mc) moto_server=$(command -v moto_server)"
