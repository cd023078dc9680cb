#!/usr/bin/env bash
# Run once by the official postgres image on a new data directory
# (/docker-entrypoint-initdb.d/drstack-init.sh, executable, so it runs in its
# own shell), against the entrypoint's temporary server over the unix socket:
# - role drstack_replication (REPLICATION LOGIN), which the peer's copies use;
# - the application's login role, owner of POSTGRES_DB;
# - pg_hba.conf: over the socket only the server's own OS user, as the
#   superuser; over TCP only TLS with a password: any role from the site's
#   own Docker network (samenet: the agent, the application), and from any
#   address (the peer data centre) only drstack_replication's replication
#   connections; plain TCP is rejected;
# - as its last step, the completion marker drstack-initialised in the data
#   directory: postgres-entrypoint.sh refuses to start an initdb data
#   directory without it (this script failed half-way).
# A standby made by pg_basebackup never runs this: it gets all of it from its upstream.
# PGHOST/PGPORT pick another server (tests); POSTGRES_USER is the superuser.
set -euo pipefail

readonly REPLICATION_ROLE=drstack_replication

die() {
  printf 'drstack postgres-init: %s\n' "$*" >&2
  exit 64
}

for name in DRSTACK_REPLICATION_PASSWORD DRSTACK_APP_ROLE DRSTACK_APP_PASSWORD; do
  [ -n "${!name:-}" ] || die "$name is not set; the program sets it on the database container (see the docker site contract)."
done
superuser="${POSTGRES_USER:-postgres}"
case "$DRSTACK_APP_ROLE" in
  "$REPLICATION_ROLE" | "$superuser")
    die "DRSTACK_APP_ROLE is \"$DRSTACK_APP_ROLE\", a role drstack uses itself (the fence turns the application role's LOGIN off); name the application's own role." ;;
esac
database="${POSTGRES_DB:-}"

sql() {
  psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password --quiet --username "$superuser" --dbname postgres "$@"
}

# Values travel as psql variables and are quoted by the server (format %I/%L), never spliced into SQL here.
sql -v repl_password="$DRSTACK_REPLICATION_PASSWORD" -v app_role="$DRSTACK_APP_ROLE" \
  -v app_password="$DRSTACK_APP_PASSWORD" -v app_database="$database" <<'SQL'
SELECT 'CREATE ROLE drstack_replication' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'drstack_replication') \gexec
SELECT format('ALTER ROLE drstack_replication WITH REPLICATION LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L', :'repl_password') \gexec
SELECT format('CREATE ROLE %I', :'app_role') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_role') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOREPLICATION PASSWORD %L', :'app_role', :'app_password') \gexec
-- The maintenance database stays the superuser's; the official image defaults POSTGRES_DB to it.
SELECT format('CREATE DATABASE %I', :'app_database')
 WHERE :'app_database' NOT IN ('', 'postgres') AND NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'app_database') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'app_database', :'app_role') WHERE :'app_database' NOT IN ('', 'postgres') \gexec
SQL

hba_file="$(sql -At -c 'SHOW hba_file')"
data_directory="$(sql -At -c 'SHOW data_directory')"
ident_file="$(sql -At -c 'SHOW ident_file')"
os_user="$(id -un)"

write_file() {
  local target="$1" content="$2"
  printf '%s' "$content" >"$target.drstack-new"
  chmod 0600 "$target.drstack-new"
  mv -f "$target.drstack-new" "$target"
}

write_file "$ident_file" "# Written by drstack (postgres-init.sh): the server's OS user may connect over the socket as the superuser only.
# MAPNAME       SYSTEM-USERNAME  PG-USERNAME
drstack_local   $os_user  $superuser
"
write_file "$hba_file" "# Written by drstack (postgres-init.sh). First match wins.
# TYPE    DATABASE     USER                  ADDRESS  METHOD
local     all          $superuser            peer map=drstack_local
hostssl   replication  $REPLICATION_ROLE   all      scram-sha-256
hostssl   all          all                   samenet  scram-sha-256
host      replication  all                   all      reject
host      all          all                   all      reject
"

# The gateway reject the entrypoint keeps at every start, here for the first one.
"${DRSTACK_ENTRYPOINT:-/drstack/postgres-entrypoint.sh}" --reject-gateway "$hba_file" || die "could not add the gateway's reject rule to $hba_file"
bad_rules="$(sql -At -c "SELECT string_agg(format('line %s: %s', line_number, error), '; ') FROM pg_hba_file_rules WHERE error IS NOT NULL")"
[ -z "$bad_rules" ] || die "the pg_hba.conf written to $hba_file has errors: $bad_rules"
sql -At -c 'SELECT pg_reload_conf()' >/dev/null
# Last: the entrypoint starts an initdb data directory only with this marker. pg_basebackup copies it into every standby.
write_file "$data_directory/drstack-initialised" "Initialised by drstack (postgres-init.sh): roles $REPLICATION_ROLE and $DRSTACK_APP_ROLE, pg_hba.conf, pg_ident.conf.
"
printf 'drstack postgres-init: roles %s and %s, database %s, pg_hba.conf written\n' "$REPLICATION_ROLE" "$DRSTACK_APP_ROLE" "${database:-(none)}" >&2
