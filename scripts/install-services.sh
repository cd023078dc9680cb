#!/usr/bin/env bash
# Installs what the integration tests and the backup benchmark start on
# loopback: PostgreSQL 15 and MariaDB server and client tools (Debian
# packages), MinIO and mc (go install), and moto_server (PyPI) for CloudWatch
# and SNS. MySQL proper has no Debian package: its paths are unit-tested only.
# Idempotent: each piece is installed only when it is missing.
set -euo pipefail

PG_BIN_DIR="${PG_BIN_DIR:-/usr/lib/postgresql/15/bin}"
GOBIN_DIR="$(go env GOBIN 2>/dev/null || true)"
[ -n "$GOBIN_DIR" ] || GOBIN_DIR="$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

log() { printf 'install-services: %s\n' "$*"; }

# PostgreSQL 15 (Debian 12's `postgresql` is 15). apt-get update only when the install needs it.
if [ ! -x "$PG_BIN_DIR/postgres" ] || [ ! -x "$PG_BIN_DIR/pg_dump" ]; then
  log "installing PostgreSQL 15"
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get install -y --no-install-recommends postgresql-15 postgresql-client-15; then
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends postgresql-15 postgresql-client-15
  fi
  # The tests run their own cluster; the packaged one is not needed.
  $SUDO service postgresql stop >/dev/null 2>&1 || true
fi
# The tests run postgres as the `postgres` OS user when they run as root.
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  log "creating the postgres OS user"
  useradd --system --home /var/lib/postgresql --shell /bin/bash postgres
fi

# MariaDB (Debian 12's is 10.11): the MySQL-family server the integration tests start on loopback.
if [ ! -x /usr/sbin/mariadbd ] || ! command -v mariadb-install-db >/dev/null 2>&1 || ! command -v mariadb-dump >/dev/null 2>&1; then
  log "installing MariaDB"
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get install -y --no-install-recommends mariadb-server mariadb-client; then
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends mariadb-server mariadb-client
  fi
  # The tests run their own server; the packaged one is not needed.
  $SUDO service mariadb stop >/dev/null 2>&1 || true
fi

have() { command -v "$1" >/dev/null 2>&1 || [ -x "$GOBIN_DIR/$1" ]; }

for tool in minio mc; do
  if ! have "$tool"; then
    if ! command -v go >/dev/null 2>&1; then
      echo "install-services: go is required to build $tool (go install github.com/minio/$tool@latest); install Go 1.24+ first" >&2
      exit 1
    fi
    log "building $tool with go install (a few minutes)"
    go install "github.com/minio/$tool@latest"
  fi
done

if ! command -v moto_server >/dev/null 2>&1; then
  log "installing moto[server]"
  python3 -m pip install --quiet 'moto[server]'
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
fi

log "postgres: $("$PG_BIN_DIR/postgres" --version)"
log "mariadb: $(/usr/sbin/mariadbd --version)"
log "minio: $(command -v minio || echo "$GOBIN_DIR/minio")"
log "mc: $(command -v mc || echo "$GOBIN_DIR/mc")"
log "moto_server: $(command -v moto_server)"
