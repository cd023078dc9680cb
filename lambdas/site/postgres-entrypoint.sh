#!/usr/bin/env bash
# Command wrapper of a docker site's PostgreSQL container:
#   postgres-entrypoint.sh docker-entrypoint.sh postgres -c ...
# 1. copies the TLS files (uploaded root-owned, the key 0644) to a location
#    owned by the server's user with the key 0600, as PostgreSQL requires;
# 2. an initialised data directory (PG_VERSION) starts as whatever it is
#    (writer, standby, promoted writer): no setting can turn it into a copy;
#    with DRSTACK_DATABASE_INIT=initdb it must also carry postgres-init.sh's
#    completion marker (drstack-initialised; a copy carries its writer's),
#    else initdb or postgres-init.sh failed half-way and it is refused (65);
# 3. an empty one is initialised by DRSTACK_DATABASE_INIT:
#    - initdb: left to the official image's entrypoint ("$@");
#    - basebackup: copied from the peer's writer with pg_basebackup into a
#      directory beside PGDATA that becomes PGDATA only once complete, with
#      a physical replication slot on the upstream, then started as its standby.
# 4. at every start, pg_hba.conf rejects the container's default gateway ahead of
#    its `samenet` rule (reject_gateway below).
# Exit codes: 64 a setting is missing or wrong, 65 PGDATA is in a state this
# script will not touch, 66 a TLS file is missing, 69 the upstream is not
# reachable, 70 pg_basebackup failed. Docker's restart policy retries.
# `postgres-entrypoint.sh --reject-gateway <pg_hba.conf>` does step 4 alone
# (postgres-init.sh calls it on the first start).
set -euo pipefail

readonly TLS_DIR="${DRSTACK_TLS_DIR:-/drstack/tls}"
readonly TLS_TARGET="${DRSTACK_TLS_TARGET:-/var/lib/postgresql/drstack-tls}"
readonly SERVER_USER=postgres

log() { printf 'drstack postgres-entrypoint: %s\n' "$*" >&2; }
die() {
  local code="$1"
  shift
  log "$*"
  exit "$code"
}

running_as_root() { [ "$(id -u)" -eq 0 ]; }

# Prints the value of KEY in a libpq key=value conninfo (values may be single-quoted).
conninfo_value() {
  local key="$1" conninfo="$2"
  local re="(^|[[:space:]])${key}[[:space:]]*=[[:space:]]*('([^'\\\\]|\\\\.)*'|[^[:space:]']+)"
  if [[ "$conninfo" =~ $re ]]; then
    local value="${BASH_REMATCH[2]}"
    if [[ "$value" == \'*\' ]]; then
      value="${value:1:${#value}-2}"
      value="${value//\\\'/\'}"
      value="${value//\\\\/\\}"
    fi
    printf '%s' "$value"
  fi
}

# The default route's gateway from /proc/net/route (hex, little-endian), or nothing.
default_gateway() {
  local destination gateway
  while read -r _ destination gateway _; do
    if [ "$destination" = 00000000 ] && [ "$gateway" != 00000000 ] && [[ $gateway =~ ^[0-9A-Fa-f]{8}$ ]]; then
      printf '%d.%d.%d.%d' "0x${gateway:6:2}" "0x${gateway:4:2}" "0x${gateway:2:2}" "0x${gateway:0:2}"
      return
    fi
  done <"${DRSTACK_ROUTE_FILE:-/proc/net/route}"
}

# Connections through Docker's userland proxy (a published port reached from the
# host itself, or every connection where the proxy replaces iptables NAT) arrive
# from the bridge's gateway, which is inside `samenet` (moby/moby#1435). So the
# gateway is rejected ahead of the samenet rule: replication (its own rule, from
# anywhere) still works, the superuser and the application from the gateway do
# not. Rewritten at every start: a copy carries its writer's pg_hba.conf, whose
# network (and gateway) may differ.
reject_gateway() {
  local hba="$1" gateway line out="" placed=false
  [ -f "$hba" ] || return 0
  gateway="$(default_gateway)"
  while IFS= read -r line || [ -n "$line" ]; do
    [[ $line == *"# drstack-gateway"* ]] && continue
    if [ "$placed" = false ] && [[ $line =~ ^hostssl[[:space:]]+all[[:space:]]+all[[:space:]]+samenet ]]; then
      [ -z "$gateway" ] || out+="hostssl   all          all                   $gateway/32  reject  # drstack-gateway"$'\n'
      placed=true
    fi
    out+="$line"$'\n'
  done <"$hba"
  printf '%s' "$out" >"$hba.drstack-new"
  chmod --reference="$hba" "$hba.drstack-new"
  if running_as_root; then chown --reference="$hba" "$hba.drstack-new"; fi
  mv -f "$hba.drstack-new" "$hba"
}

if [ "${1:-}" = --reject-gateway ]; then
  [ "$#" -eq 2 ] || die 64 "usage: postgres-entrypoint.sh --reject-gateway <pg_hba.conf>"
  reject_gateway "$2"
  exit 0
fi

require() {
  local name="$1" fix="$2"
  if [ -z "${!name:-}" ]; then
    die 64 "$name is not set; $fix"
  fi
}

[ "$#" -gt 0 ] || die 64 "no command given; usage: postgres-entrypoint.sh docker-entrypoint.sh postgres -c ... (the container's command names the server to exec)"
require PGDATA "set it to the data directory inside the database volume (the program sets /var/lib/postgresql/data/pgdata)."
require DRSTACK_DATABASE_INIT "set it to initdb (an empty writer, generation 1 of the primary) or basebackup (a copy of the peer's writer that follows it)."
case "$DRSTACK_DATABASE_INIT" in
  initdb | basebackup) ;;
  *) die 64 "DRSTACK_DATABASE_INIT is \"$DRSTACK_DATABASE_INIT\"; set it to initdb or basebackup." ;;
esac

readonly INIT_MARKER=drstack-initialised
initialised=false
[ -f "$PGDATA/PG_VERSION" ] && initialised=true

if [ "$initialised" = true ] && [ "$DRSTACK_DATABASE_INIT" = initdb ] && ! [ -f "$PGDATA/$INIT_MARKER" ]; then
  die 65 "PGDATA $PGDATA has PG_VERSION but no $INIT_MARKER: initdb or postgres-init.sh did not finish on its first start, so this database may lack drstack's roles and pg_hba.conf. Inspect the first start's log; if the directory holds nothing yet, remove its contents so the next start initialises it again. (A database that postgres-init.sh did finish on, made before drstack wrote the marker: check its roles and pg_hba.conf, then create $PGDATA/$INIT_MARKER.)"
fi

# Validate everything a copy needs before anything is written.
if [ "$initialised" = false ] && [ "$DRSTACK_DATABASE_INIT" = basebackup ]; then
  require DRSTACK_UPSTREAM_CONNINFO "set it to the libpq conninfo of the peer's writer, e.g. host=db.dc2.example.ch port=5432 user=drstack_replication sslmode=verify-full sslrootcert=/drstack/tls/ca.crt application_name=primary_g2."
  require DRSTACK_REPLICATION_PASSWORD "set it to the password of the role drstack_replication on the peer's writer."
  require DRSTACK_REPLICATION_SLOT "set it to the physical replication slot this copy uses on its upstream, drstack_<site>_g<generation>."
  case "$DRSTACK_UPSTREAM_CONNINFO" in
    postgres://* | postgresql://*)
      die 64 "DRSTACK_UPSTREAM_CONNINFO is a URI; write it as key=value pairs (host=... port=... user=drstack_replication sslmode=verify-full ...), so the TLS settings can be pinned." ;;
  esac
  if ! [[ "$DRSTACK_REPLICATION_SLOT" =~ ^[a-z0-9_]{1,63}$ ]]; then
    die 64 "DRSTACK_REPLICATION_SLOT \"$DRSTACK_REPLICATION_SLOT\" is not a slot name; use lower-case letters, digits and underscores, at most 63 (drstack_<site>_g<generation>)."
  fi
  upstream_host="$(conninfo_value host "$DRSTACK_UPSTREAM_CONNINFO")"
  upstream_port="$(conninfo_value port "$DRSTACK_UPSTREAM_CONNINFO")"
  upstream_port="${upstream_port:-5432}"
  upstream_sslmode="$(conninfo_value sslmode "$DRSTACK_UPSTREAM_CONNINFO")"
  [ -n "$upstream_host" ] || die 64 "DRSTACK_UPSTREAM_CONNINFO names no host=; add the peer writer's DNS name (the name its certificate is issued for)."
  if [ -n "$upstream_sslmode" ] && [ "$upstream_sslmode" != verify-full ]; then
    die 64 "DRSTACK_UPSTREAM_CONNINFO has sslmode=$upstream_sslmode; replication between the sites must verify the peer: use sslmode=verify-full (or leave it out, it is added)."
  fi
  if [ -e "$PGDATA" ] && [ -n "$(ls -A "$PGDATA")" ]; then
    die 65 "PGDATA $PGDATA is not empty but has no PG_VERSION: not a data directory this script made. Inspect it; remove it to copy the upstream again."
  fi
  command -v pg_basebackup >/dev/null || die 64 "pg_basebackup is not on PATH; run the official postgres image, or put the PostgreSQL server binaries on PATH."
  command -v pg_isready >/dev/null || die 64 "pg_isready is not on PATH; run the official postgres image, or put the PostgreSQL server binaries on PATH."
fi

for file in ca.crt server.crt server.key; do
  [ -f "$TLS_DIR/$file" ] || die 66 "$TLS_DIR/$file is missing; the program uploads ca.crt, server.crt and server.key into $TLS_DIR (DRSTACK_TLS_DIR) when it creates the container."
done
owner=()
if running_as_root; then owner=(-o "$SERVER_USER" -g "$SERVER_USER"); fi
install -d -m 0700 "${owner[@]}" "$TLS_TARGET"
install -m 0644 "${owner[@]}" "$TLS_DIR/ca.crt" "$TLS_TARGET/ca.crt"
install -m 0644 "${owner[@]}" "$TLS_DIR/server.crt" "$TLS_TARGET/server.crt"
install -m 0600 "${owner[@]}" "$TLS_DIR/server.key" "$TLS_TARGET/server.key"

if [ "$initialised" = true ]; then
  reject_gateway "$PGDATA/pg_hba.conf"
  exec "$@"
fi
if [ "$DRSTACK_DATABASE_INIT" = initdb ]; then
  # The official image's docker-entrypoint.sh runs initdb and /docker-entrypoint-initdb.d.
  exec "$@"
fi

if ! pg_isready -q -h "$upstream_host" -p "$upstream_port" -t 10; then
  die 69 "the upstream $upstream_host:$upstream_port (host and port in DRSTACK_UPSTREAM_CONNINFO) does not accept connections; the peer's writer must be running and reachable from this site before its copy can be made (the container restarts and tries again)."
fi

parent="$(dirname "$PGDATA")"
staging="$parent/.$(basename "$PGDATA").drstack-basebackup"
errors="$parent/.$(basename "$PGDATA").drstack-basebackup.log"
mkdir -p "$parent"
# A copy interrupted by a kill or a crash is never resumed: it starts over.
rm -rf "$staging"
trap 'rm -rf "$staging" "$errors"' EXIT

# Later keywords win in a conninfo: the copy (and the standby's primary_conninfo that -R writes) verifies the peer against the copied CA.
conninfo="$DRSTACK_UPSTREAM_CONNINFO sslmode=verify-full sslrootcert='$TLS_TARGET/ca.crt'"

basebackup() {
  PGPASSWORD="$DRSTACK_REPLICATION_PASSWORD" PGCONNECT_TIMEOUT=10 \
    pg_basebackup -d "$conninfo" -D "$staging" -R -X stream -c fast -w "$@" -S "$DRSTACK_REPLICATION_SLOT" 2>"$errors"
}

log "copying the upstream $upstream_host:$upstream_port into $PGDATA with slot $DRSTACK_REPLICATION_SLOT"
if ! basebackup -C; then
  # The server words the error in its own lc_messages; the quoted slot name is in it in every language ("replication slot "x" already exists").
  if grep -qF "\"$DRSTACK_REPLICATION_SLOT\"" "$errors"; then
    # An earlier attempt created the slot; it keeps the WAL this copy needs.
    log "slot $DRSTACK_REPLICATION_SLOT already exists on the upstream (an earlier attempt); reusing it"
    rm -rf "$staging"
    if ! basebackup; then
      cat "$errors" >&2
      die 70 "pg_basebackup from $upstream_host:$upstream_port failed (above); PGDATA was not created. Check DRSTACK_UPSTREAM_CONNINFO, DRSTACK_REPLICATION_PASSWORD and that slot $DRSTACK_REPLICATION_SLOT is not in use by another server."
    fi
  else
    cat "$errors" >&2
    die 70 "pg_basebackup from $upstream_host:$upstream_port failed (above); PGDATA was not created. Check DRSTACK_UPSTREAM_CONNINFO and DRSTACK_REPLICATION_PASSWORD."
  fi
fi
cat "$errors" >&2

auto_conf="$staging/postgresql.auto.conf"
# -R quotes values that need it and doubles the quotes for the file: sslmode=''verify-full''.
primary="$(grep '^primary_conninfo = ' "$auto_conf" || true)"
if ! [[ "$primary" == *"sslmode=''verify-full''"* || "$primary" == *" sslmode=verify-full"* ]] || [[ "$primary" != *"sslrootcert=''$TLS_TARGET/ca.crt''"* ]]; then
  die 70 "pg_basebackup wrote no primary_conninfo with sslmode=verify-full and sslrootcert=$TLS_TARGET/ca.crt into $auto_conf; refusing to start a standby that would not verify its upstream."
fi

chmod 700 "$staging"
if running_as_root; then chown -R "$SERVER_USER:$SERVER_USER" "$staging"; fi
reject_gateway "$staging/pg_hba.conf"
mv -T "$staging" "$PGDATA"
rm -f "$errors"
trap - EXIT
log "copy complete: $PGDATA is a standby of $upstream_host:$upstream_port"
exec "$@"
