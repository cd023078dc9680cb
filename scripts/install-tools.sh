#!/usr/bin/env bash
# Installs the command-line tools the offline suites and the workflow lint run:
# jq (the workflows' PR-preview gate step is tested with the real jq) and
# shellcheck (actionlint checks the workflows' shell with it, and skips that
# check silently without it), and openssl (the Docker-site replication tests
# issue their own throwaway CA). Debian packages; each only when missing.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for tool in jq shellcheck openssl; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
printf 'install-tools: installing %s\n' "${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}"; then
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
