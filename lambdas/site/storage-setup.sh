#!/bin/bash
# Configures a docker site's MinIO with MinIO's own client, because
# @pulumi/minio has no bucket replication and no default retention. The program
# runs it in a one-shot container of the minio/mc image:
#   storage-setup.sh setup   backup bucket, fencing bucket, users, replication
#   storage-setup.sh claim   writes the stack's writer-claim.json
#
# Shell: bash. minio/mc's Dockerfile.release builds on ubi9/ubi-micro, which
# has bash and coreutils but no grep, sed, awk or jq; so this script uses bash
# builtins, mc and these coreutils only: mktemp rm mkdir cp timeout sort sha256sum.
#
# Idempotent: every step reads the current state first and changes only what
# differs. Each step prints "changed: ..." or "unchanged: ..."; the last line
# says how many changes the run made. Exit codes: 0 done; 64 bad or missing
# environment (checked before anything is touched); 1 any other failure, with
# what failed and mc's own message.
#
# Lifecycle rule IDs: "drstack-retention:<prefix>" (one per DRSTACK_RETENTION
# entry). Rules with that ID prefix belong to this script: they are updated,
# and removed when their prefix is no longer listed. Other rules are kept.
# The replication rule's ID is "drstack-replication", priority 1.
#
# Environment of `setup` (all required unless marked optional):
#   DRSTACK_STORAGE_ENDPOINT         this site's MinIO, http(s)://host[:port]
#   DRSTACK_STORAGE_ROOT_USER, DRSTACK_STORAGE_ROOT_PASSWORD   its root credentials
#   DRSTACK_BACKUP_BUCKET, DRSTACK_FENCING_BUCKET
#   DRSTACK_OBJECT_LOCK_MODE         GOVERNANCE | COMPLIANCE | NONE (no default retention)
#   DRSTACK_OBJECT_LOCK_DAYS         default retention days (not with NONE)
#   DRSTACK_RETENTION                "prefix=days ..." e.g. "db/=35 critical/=90"
#   DRSTACK_NONCURRENT_VERSION_DAYS  days a superseded version is kept
#   DRSTACK_BACKUP_USER_SECRET, DRSTACK_PEER_READER_SECRET, DRSTACK_REPLICATION_SECRET
#                                    secrets (8-40 characters) of this site's users
#                                    drstack-backup, drstack-peer-reader, drstack-replication
#   DRSTACK_PEER_STORAGE_ENDPOINT, DRSTACK_PEER_BACKUP_BUCKET, DRSTACK_PEER_REPLICATION_SECRET
#                                    optional, all or none: replicate the backup bucket into
#                                    the peer's, as the peer's drstack-replication user
#   DRSTACK_CA_FILE                  optional: CA certificate to trust (both endpoints)
#   DRSTACK_STORAGE_WAIT_SECONDS     optional: how long to wait for MinIO (default 120)
# Environment of `claim`: DRSTACK_STORAGE_ENDPOINT, the root credentials,
# DRSTACK_FENCING_BUCKET, DRSTACK_WRITER_CLAIM (the JSON text), DRSTACK_CA_FILE
# and DRSTACK_STORAGE_WAIT_SECONDS as above.
#
# mc commands used need mc RELEASE.2024-03-03 or later (an alias as
# --remote-bucket of mc replicate add); tested with mc RELEASE.2025-08-13T08-35-41Z
# (built from its tag) and with mc of 2025-03.
#
# TLS: when DRSTACK_CA_FILE is set, mc trusts it: MinIO's docs say to copy a
# private CA into mc's certs/CAs directory (~/.mc/certs/CAs, here
# "$MC_CONFIG_DIR/certs/CAs"). The MinIO *server* replicating into the peer
# needs the peer's CA in its own certs/CAs directory; that is the server's
# container, not this script.
set -euo pipefail

PROG="storage-setup"
CHANGES=0
MC_OUT=""
ENV_ERRORS=()
RULE_PREFIX="drstack-retention:"
REPLICATION_RULE_ID="drstack-replication"
CREDENTIAL_TAG="drstack-replication-credential"
BACKUP_USER="drstack-backup"
PEER_READER_USER="drstack-peer-reader"
REPLICATION_USER="drstack-replication"
REPLICATION_NOT_SET="replication configuration not set"

say() { printf '%s: %s\n' "$PROG" "$*"; }
fail() {
  printf '%s: FAILED: %s\n' "$PROG" "$*" >&2
  exit 1
}
changed() {
  CHANGES=$((CHANGES + 1))
  say "changed: $*"
}
unchanged() { say "unchanged: $*"; }

# mc with the output captured in MC_OUT; returns mc's status.
mc_try() {
  MC_OUT=$(mc --quiet --no-color --disable-pager "$@" 2>&1)
}
# mc that must succeed: $1 says what it does, for the failure message.
mc_run() {
  local what=$1
  shift
  if ! mc_try "$@"; then
    fail "$what: ${MC_OUT:-mc exited non-zero without output}"
  fi
}

env_error() { ENV_ERRORS+=("$1"); }
require() { # name hint
  if [[ -z ${!1:-} ]]; then
    env_error "$1 is not set: $2"
    return 1
  fi
}
check_endpoint() {
  if require "$1" "set it to the MinIO API URL, e.g. https://storage.dc1.example.ch:9000"; then
    [[ ${!1} =~ ^https?://[A-Za-z0-9.:-]+(:[0-9]+)?/?$ ]] ||
      env_error "$1='${!1}' is not an http(s)://host[:port] URL without a path"
  fi
}
check_bucket() {
  if require "$1" "set it to the bucket's name"; then
    [[ ${!1} =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] ||
      env_error "$1='${!1}' is not a valid bucket name (3-63 characters: a-z 0-9 . -)"
  fi
}
check_days() {
  if require "$1" "set it to a whole number of days"; then
    [[ ${!1} =~ ^[1-9][0-9]{0,5}$ ]] || env_error "$1='${!1}' is not a whole number of days (1-999999)"
  fi
}
# MinIO refuses secret keys outside 8-40 characters.
check_secret() {
  if require "$1" "set it to the $2 user's secret key (8-40 characters)"; then
    local v=${!1}
    ((${#v} >= 8 && ${#v} <= 40)) || env_error "$1 has ${#v} characters; MinIO accepts 8-40"
  fi
}
check_root() {
  require DRSTACK_STORAGE_ROOT_USER "set it to the MinIO root user (MINIO_ROOT_USER)" || true
  require DRSTACK_STORAGE_ROOT_PASSWORD "set it to the MinIO root password (MINIO_ROOT_PASSWORD)" || true
  if [[ -n ${DRSTACK_STORAGE_WAIT_SECONDS:-} && ! ${DRSTACK_STORAGE_WAIT_SECONDS} =~ ^[1-9][0-9]{0,4}$ ]]; then
    env_error "DRSTACK_STORAGE_WAIT_SECONDS='${DRSTACK_STORAGE_WAIT_SECONDS}' is not a whole number of seconds: set it so, or unset it for 120"
  fi
  if [[ -n ${DRSTACK_CA_FILE:-} && ! -r ${DRSTACK_CA_FILE} ]]; then
    env_error "DRSTACK_CA_FILE='${DRSTACK_CA_FILE}' is not a readable file: upload the CA certificate there or unset it"
  fi
}
env_errors_exit() {
  if ((${#ENV_ERRORS[@]} > 0)); then
    local e
    for e in "${ENV_ERRORS[@]}"; do printf '%s: %s\n' "$PROG" "$e" >&2; done
    printf '%s: nothing was changed\n' "$PROG" >&2
    exit 64
  fi
}

# Filled by parse_retention: parallel arrays of prefixes and days.
RET_PREFIXES=()
RET_DAYS=()
parse_retention() {
  require DRSTACK_RETENTION "set it to space-separated prefix=days pairs, e.g. 'db/=35 critical/=90'" || return 0
  local entry prefix days p
  for entry in $DRSTACK_RETENTION; do
    if [[ ! $entry =~ ^([A-Za-z0-9._/-]+)=([1-9][0-9]{0,5})$ ]]; then
      env_error "DRSTACK_RETENTION entry '$entry' is not prefix=days (prefix of A-Z a-z 0-9 . _ / -, days a whole number)"
      continue
    fi
    prefix=${BASH_REMATCH[1]}
    days=${BASH_REMATCH[2]}
    for p in "${RET_PREFIXES[@]}"; do
      [[ $p != "$prefix" ]] || env_error "DRSTACK_RETENTION lists prefix '$prefix' twice"
    done
    RET_PREFIXES+=("$prefix")
    RET_DAYS+=("$days")
  done
}

validate_setup_env() {
  check_endpoint DRSTACK_STORAGE_ENDPOINT
  check_root
  check_bucket DRSTACK_BACKUP_BUCKET || true
  check_bucket DRSTACK_FENCING_BUCKET || true
  if [[ -n ${DRSTACK_BACKUP_BUCKET:-} && ${DRSTACK_BACKUP_BUCKET:-} == "${DRSTACK_FENCING_BUCKET:-}" ]]; then
    env_error "DRSTACK_BACKUP_BUCKET and DRSTACK_FENCING_BUCKET are both '${DRSTACK_BACKUP_BUCKET}': the fencing bucket must be a separate, unreplicated bucket"
  fi
  if require DRSTACK_OBJECT_LOCK_MODE "set it to GOVERNANCE, COMPLIANCE or NONE"; then
    case $DRSTACK_OBJECT_LOCK_MODE in
      GOVERNANCE | COMPLIANCE) check_days DRSTACK_OBJECT_LOCK_DAYS || true ;;
      NONE) ;;
      *) env_error "DRSTACK_OBJECT_LOCK_MODE='$DRSTACK_OBJECT_LOCK_MODE' is not GOVERNANCE, COMPLIANCE or NONE" ;;
    esac
  fi
  parse_retention
  check_days DRSTACK_NONCURRENT_VERSION_DAYS || true
  check_secret DRSTACK_BACKUP_USER_SECRET "$BACKUP_USER" || true
  check_secret DRSTACK_PEER_READER_SECRET "$PEER_READER_USER" || true
  check_secret DRSTACK_REPLICATION_SECRET "$REPLICATION_USER" || true
  local n=0 v
  for v in DRSTACK_PEER_STORAGE_ENDPOINT DRSTACK_PEER_BACKUP_BUCKET DRSTACK_PEER_REPLICATION_SECRET; do
    [[ -z ${!v:-} ]] || n=$((n + 1))
  done
  if ((n == 3)); then
    check_endpoint DRSTACK_PEER_STORAGE_ENDPOINT
    check_bucket DRSTACK_PEER_BACKUP_BUCKET || true
    check_secret DRSTACK_PEER_REPLICATION_SECRET "peer's $REPLICATION_USER" || true
  elif ((n != 0)); then
    env_error "DRSTACK_PEER_STORAGE_ENDPOINT, DRSTACK_PEER_BACKUP_BUCKET and DRSTACK_PEER_REPLICATION_SECRET go together: set all three to replicate into the peer, or none"
  fi
  env_errors_exit
}

init_mc() {
  MC_CONFIG_DIR=$(mktemp -d)
  export MC_CONFIG_DIR
  # shellcheck disable=SC2064 # the directory is fixed now
  trap "rm -rf '$MC_CONFIG_DIR'" EXIT
  if [[ -n ${DRSTACK_CA_FILE:-} ]]; then
    mkdir -p "$MC_CONFIG_DIR/certs/CAs"
    cp "$DRSTACK_CA_FILE" "$MC_CONFIG_DIR/certs/CAs/drstack-ca.crt"
  fi
}

# --api S3v4 skips mc's signature probe, so setting an alias makes no request.
set_alias() { # name endpoint user secret
  mc_run "configure mc alias $1 for $2" alias set "$1" "${2%/}" "$3" "$4" --api S3v4 --path on
}

wait_ready() {
  local seconds=${DRSTACK_STORAGE_WAIT_SECONDS:-120}
  if ! MC_OUT=$(timeout "$seconds" mc --quiet --no-color ready site 2>&1); then
    fail "MinIO at $DRSTACK_STORAGE_ENDPOINT did not become ready within $seconds s: ${MC_OUT##*$'\n'}"
  fi
}

bucket_exists() { # bucket; uses the root alias
  mc_run "list the buckets at $DRSTACK_STORAGE_ENDPOINT" ls --json site
  [[ $MC_OUT == *"\"key\":\"$1/\""* ]]
}

# Splits the content of a JSON array (without its brackets) into ITEMS, one
# element each, respecting nesting and strings.
ITEMS=()
split_json_array() {
  ITEMS=()
  local s=$1 n=${#1} i c depth=0 in_str=0 esc=0 start=0
  for ((i = 0; i < n; i++)); do
    c=${s:i:1}
    if ((in_str)); then
      if ((esc)); then
        esc=0
      elif [[ $c == "\\" ]]; then
        esc=1
      elif [[ $c == '"' ]]; then
        in_str=0
      fi
      continue
    fi
    case $c in
      '"') in_str=1 ;;
      '{' | '[') depth=$((depth + 1)) ;;
      '}' | ']') depth=$((depth - 1)) ;;
      ',') if ((depth == 0)); then
        ITEMS+=("${s:start:i-start}")
        start=$((i + 1))
      fi ;;
    esac
  done
  if ((n > start)); then ITEMS+=("${s:start}"); fi
}

ensure_backup_bucket() {
  local b=$DRSTACK_BACKUP_BUCKET
  if bucket_exists "$b"; then
    mc_run "read the configuration of bucket $b" stat --json "site/$b"
    if [[ $MC_OUT != *'"ObjectLock":{"enabled":"Enabled"'* ]]; then
      fail "bucket $b exists without Object Lock, and Object Lock can only be enabled when a bucket is created. Nothing was changed. Move its objects elsewhere and remove it (mc rb --force), or set DRSTACK_BACKUP_BUCKET to a new bucket"
    fi
    unchanged "bucket $b exists with Object Lock"
  else
    # Object Lock is only possible at creation (mc retention set docs); --with-lock implies versioning.
    mc_run "create bucket $b with Object Lock" mb --with-lock "site/$b"
    changed "created bucket $b with Object Lock"
  fi
  ensure_versioned "$b"
}

ensure_versioned() { # bucket
  local bucket=$1
  mc_run "read the versioning of bucket $bucket" version info --json "site/$bucket"
  if [[ $MC_OUT == *'"versioning":{"status":"Enabled"'* ]]; then
    unchanged "bucket $bucket is versioned"
  else
    mc_run "enable versioning on bucket $bucket" version enable "site/$bucket"
    changed "enabled versioning on bucket $bucket"
  fi
}

# Default retention: `mc retention set --default MODE Nd` (MinIO docs, mc retention set).
ensure_default_retention() {
  local b=$DRSTACK_BACKUP_BUCKET mode=$DRSTACK_OBJECT_LOCK_MODE want_mode want_validity
  mc_run "read the default retention of bucket $b" retention info --default --json "site/$b"
  local re='"mode":"([A-Z]*)","validity":"([0-9A-Z]*)"'
  [[ $MC_OUT =~ $re ]] || fail "unexpected output of mc retention info for bucket $b: $MC_OUT"
  local have_mode=${BASH_REMATCH[1]} have_validity=${BASH_REMATCH[2]}
  if [[ $mode == NONE ]]; then
    if [[ -z $have_mode ]]; then
      unchanged "bucket $b has no default retention"
    else
      mc_run "clear the default retention of bucket $b" retention clear --default "site/$b"
      changed "cleared the default retention of bucket $b (was $have_mode $have_validity)"
    fi
    return
  fi
  want_mode=$mode
  want_validity="${DRSTACK_OBJECT_LOCK_DAYS}DAYS"
  if [[ $have_mode == "$want_mode" && $have_validity == "$want_validity" ]]; then
    unchanged "bucket $b default retention is $want_mode $DRSTACK_OBJECT_LOCK_DAYS days"
  else
    mc_run "set the default retention of bucket $b" retention set --default "$want_mode" "${DRSTACK_OBJECT_LOCK_DAYS}d" "site/$b"
    changed "set the default retention of bucket $b to $want_mode $DRSTACK_OBJECT_LOCK_DAYS days (was ${have_mode:-none} ${have_validity})"
  fi
}

# One rule per prefix: current versions expire after the prefix's days,
# noncurrent ones DRSTACK_NONCURRENT_VERSION_DAYS after they were superseded
# (`mc ilm rule add --prefix --expire-days --noncurrent-expire-days`, MinIO docs).
# `mc ilm rule add` cannot set a rule ID, so the whole configuration goes in
# through `mc ilm rule import`, other rules copied over unchanged. A rule is
# written in the form mc's export prints, so an unchanged one compares equal.
ensure_lifecycle() {
  local b=$DRSTACK_BACKUP_BUCKET i item id current_owned="" desired="" foreign=()
  for i in "${!RET_PREFIXES[@]}"; do
    item="{\"Expiration\":{\"Days\":${RET_DAYS[i]}},\"ID\":\"${RULE_PREFIX}${RET_PREFIXES[i]}\",\"Filter\":{\"Prefix\":\"${RET_PREFIXES[i]}\"},\"NoncurrentVersionExpiration\":{\"NoncurrentDays\":${DRSTACK_NONCURRENT_VERSION_DAYS}},\"Status\":\"Enabled\"}"
    desired+="${desired:+,}$item"
  done
  if mc_try ilm rule export "site/$b"; then
    local exported=${MC_OUT%$'\n'}
    [[ $exported =~ ^\{\"Rules\":\[(.*)\]\}$ ]] || fail "unexpected output of mc ilm rule export for bucket $b: $exported"
    split_json_array "${BASH_REMATCH[1]}"
    local id_re='"ID":"([^"\\]*)"'
    for item in "${ITEMS[@]}"; do
      id=""
      if [[ $item =~ $id_re ]]; then id=${BASH_REMATCH[1]}; fi
      if [[ $id == "$RULE_PREFIX"* ]]; then
        current_owned+="${current_owned:+,}$item"
      else
        foreign+=("$item")
      fi
    done
  elif [[ $MC_OUT != *"lifecycle configuration does not exist"* && $MC_OUT != *"lifecycle configuration not set"* ]]; then
    fail "read the lifecycle rules of bucket $b: $MC_OUT"
  fi
  if [[ $current_owned == "$desired" ]]; then
    unchanged "bucket $b lifecycle rules (${RET_PREFIXES[*]})"
    return
  fi
  local all="" f
  for f in "${foreign[@]}"; do all+="${all:+,}$f"; done
  all+="${all:+,}$desired"
  if ! MC_OUT=$(printf '{"Rules":[%s]}' "$all" | mc --quiet --no-color ilm rule import "site/$b" 2>&1); then
    fail "set the lifecycle rules of bucket $b: $MC_OUT"
  fi
  changed "set bucket $b lifecycle rules: $(for i in "${!RET_PREFIXES[@]}"; do printf '%s ' "${RET_PREFIXES[i]}=${RET_DAYS[i]}d"; done)noncurrent ${DRSTACK_NONCURRENT_VERSION_DAYS}d (${#foreign[@]} other rule(s) kept)"
}

ensure_fencing_bucket() {
  local f=$DRSTACK_FENCING_BUCKET
  if bucket_exists "$f"; then
    unchanged "bucket $f exists"
  else
    mc_run "create bucket $f" mb --with-versioning "site/$f"
    changed "created versioned bucket $f"
  fi
  ensure_versioned "$f"
}

# A policy document reduced to sorted "effect|actions|resources" lines, so two
# documents compare equal whatever order MinIO lists a statement's actions in
# (it returns them in map order). Prints "unparsed:..." for any other shape.
canonical_policy() {
  local rest=$1 lines=() stmt
  local re='^\{"Effect":"(Allow|Deny)","Action":\[([^]]*)\],"Resource":\[([^]]*)\]\},?'
  rest=${rest#*\"Statement\":\[}
  while [[ $rest =~ $re ]]; do
    stmt="${BASH_REMATCH[1]}|$(sorted_list "${BASH_REMATCH[2]}")|$(sorted_list "${BASH_REMATCH[3]}")"
    lines+=("$stmt")
    rest=${rest:${#BASH_REMATCH[0]}}
  done
  if [[ $rest != "]}"* ]]; then
    printf 'unparsed:%s' "$1"
    return
  fi
  printf '%s\n' "${lines[@]}" | sort
}
sorted_list() {
  local items sorted
  IFS=, read -r -a items <<<"$1"
  sorted=$(printf '%s\n' "${items[@]}" | sort)
  printf '%s' "${sorted//$'\n'/ }"
}

# Policy JSON; actions and resources as comma-separated quoted lists.
statement() { printf '{"Effect":"Allow","Action":[%s],"Resource":[%s]}' "$1" "$2"; }
arns() {
  local out="" x
  for x in "$@"; do out+="${out:+,}\"arn:aws:s3:::$x\""; done
  printf '%s' "$out"
}

# In the fencing bucket the agent reads every object and writes only its fence
# marker and its fenced WAL position (fenced-wal.json, which the peer's standby
# must replay before a planned switch-over promotes it): the writer claim is
# the stack's (written as root by `claim`), and an agent that could rewrite it
# could promote its own database.
backup_policy() {
  local b=$DRSTACK_BACKUP_BUCKET f=$DRSTACK_FENCING_BUCKET
  printf '{"Version":"2012-10-17","Statement":[%s,%s,%s,%s]}' \
    "$(statement '"s3:GetBucketLocation","s3:ListBucket","s3:ListBucketMultipartUploads"' "$(arns "$b" "$f")")" \
    "$(statement '"s3:AbortMultipartUpload","s3:DeleteObject","s3:GetObject","s3:GetObjectRetention","s3:ListMultipartUploadParts","s3:PutObject","s3:PutObjectRetention"' "$(arns "$b/*")")" \
    "$(statement '"s3:GetObject"' "$(arns "$f/*")")" \
    "$(statement '"s3:PutObject"' "$(arns "$f/fence-marker.json" "$f/fenced-wal.json")")"
}
# ListBucket on the fencing bucket too: without it a missing fence marker
# answers 403 instead of 404, and the peer could not tell "none" from "denied".
peer_reader_policy() {
  local b=$DRSTACK_BACKUP_BUCKET f=$DRSTACK_FENCING_BUCKET
  printf '{"Version":"2012-10-17","Statement":[%s,%s,%s]}' \
    "$(statement '"s3:GetBucketLocation","s3:ListBucket"' "$(arns "$b" "$f")")" \
    "$(statement '"s3:GetObject","s3:GetObjectRetention"' "$(arns "$b/*")")" \
    "$(statement '"s3:GetObject"' "$(arns "$f/*")")"
}
# MinIO's "Replication Remote User" policy (docs: Requirements to Set Up Bucket
# Replication, ReplicationRemoteUserPolicy.json), narrowed to this site's backup
# bucket, plus s3:PutObjectRetention: MinIO refuses a replicated PUT carrying
# the source's retention without it (checkPutObjectLockAllowed in MinIO's
# object handlers; replication of a locked object fails with Access Denied).
replication_policy() {
  local b=$DRSTACK_BACKUP_BUCKET
  printf '{"Version":"2012-10-17","Statement":[%s,%s]}' \
    "$(statement '"s3:GetBucketLocation","s3:GetBucketObjectLockConfiguration","s3:GetBucketVersioning","s3:GetEncryptionConfiguration","s3:GetReplicationConfiguration","s3:ListBucket","s3:ListBucketMultipartUploads"' "$(arns "$b")")" \
    "$(statement '"s3:AbortMultipartUpload","s3:DeleteObject","s3:GetObject","s3:GetObjectVersion","s3:GetObjectVersionTagging","s3:GetReplicationConfiguration","s3:PutObject","s3:PutObjectRetention","s3:ReplicateDelete","s3:ReplicateObject","s3:ReplicateTags"' "$(arns "$b/*")")"
}

ensure_policy() { # name document
  local name=$1 doc=$2 file
  if mc_try admin policy info site "$name" --json && [[ $(canonical_policy "${MC_OUT#*\"Policy\":}") == "$(canonical_policy "$doc")" ]]; then
    unchanged "policy $name"
    return
  fi
  file="$MC_CONFIG_DIR/policy-$name.json"
  printf '%s' "$doc" >"$file"
  mc_run "write policy $name" admin policy create site "$name" "$file"
  changed "wrote policy $name"
}

# The secret is checked by listing an empty prefix of the backup bucket as the
# user (every drstack user may list it): MinIO answers a wrong secret with
# SignatureDoesNotMatch, which is the only case that resets it.
ensure_user() { # user secret
  local user=$1 secret=$2 policies p
  if ! mc_try admin user info site "$user" --json; then
    [[ $MC_OUT == *XMinioAdminNoSuchUser* ]] || fail "read user $user: $MC_OUT"
    mc_run "create user $user" admin user add site "$user" "$secret"
    changed "created user $user"
    mc_run "read user $user" admin user info site "$user" --json
  else
    set_alias probe "$DRSTACK_STORAGE_ENDPOINT" "$user" "$secret"
    if mc_try ls --json "probe/$DRSTACK_BACKUP_BUCKET/.drstack-credential-check/"; then
      unchanged "user $user's secret"
    elif [[ $MC_OUT == *SignatureDoesNotMatch* || $MC_OUT == *InvalidAccessKeyId* ]]; then
      mc_run "set the secret of user $user" admin user add site "$user" "$secret"
      changed "set the secret of user $user"
    elif [[ $MC_OUT != *AccessDenied* ]]; then
      fail "check the secret of user $user: $MC_OUT"
    fi
    mc_run "read user $user" admin user info site "$user" --json
  fi
  if [[ $MC_OUT != *'"userStatus":"enabled"'* ]]; then
    mc_run "enable user $user" admin user enable site "$user"
    changed "enabled user $user"
  fi
  local re='"policyName":"([^"]*)"'
  policies=""
  if [[ $MC_OUT =~ $re ]]; then policies=${BASH_REMATCH[1]}; fi
  if [[ ,$policies, == *",$user,"* ]]; then
    unchanged "policy $user attached to user $user"
  else
    mc_run "attach policy $user to user $user" admin policy attach site "$user" --user "$user"
    changed "attached policy $user to user $user"
  fi
  local others
  IFS=, read -r -a others <<<"$policies"
  for p in "${others[@]}"; do
    if [[ -n $p && $p != "$user" ]]; then
      mc_run "detach policy $p from user $user" admin policy detach site "$p" --user "$user"
      changed "detached policy $p from user $user (it gets only $user)"
    fi
  done
}

ensure_users() {
  ensure_policy "$BACKUP_USER" "$(backup_policy)"
  ensure_policy "$PEER_READER_USER" "$(peer_reader_policy)"
  ensure_policy "$REPLICATION_USER" "$(replication_policy)"
  ensure_user "$BACKUP_USER" "$DRSTACK_BACKUP_USER_SECRET"
  ensure_user "$PEER_READER_USER" "$DRSTACK_PEER_READER_SECRET"
  ensure_user "$REPLICATION_USER" "$DRSTACK_REPLICATION_SECRET"
}

# Replication into the peer's backup bucket (mc replicate add, MinIO docs):
# versioning on both buckets, and Object Lock on the target because the source
# has it ("Both replication buckets must have object locking enabled").
# The remote target holds the peer's drstack-replication secret, which MinIO
# does not show again; a fingerprint of endpoint, bucket and secret kept in the
# backup bucket's tag drstack-replication-credential tells whether it changed
# (the script owns the backup bucket's tags: setting this one replaces them).
ensure_replication() {
  local b=$DRSTACK_BACKUP_BUCKET pb=$DRSTACK_PEER_BACKUP_BUCKET pe=${DRSTACK_PEER_STORAGE_ENDPOINT%/}
  local not_set="replication from $b into $pb at $pe is NOT set up"
  set_alias peer "$pe" "$REPLICATION_USER" "$DRSTACK_PEER_REPLICATION_SECRET"
  if ! mc_try version info --json "peer/$pb"; then
    fail "$not_set: the peer could not be reached as $REPLICATION_USER, or refused it (run setup on the peer first, and check DRSTACK_PEER_REPLICATION_SECRET): $MC_OUT"
  fi
  [[ $MC_OUT == *'"versioning":{"status":"Enabled"'* ]] ||
    fail "$not_set: bucket $pb at the peer is not versioned; MinIO replicates only between versioned buckets"
  if ! mc_try retention info --default --json "peer/$pb"; then
    fail "$not_set: could not read Object Lock of bucket $pb at the peer (MinIO replicates locked objects only into a bucket with Object Lock): $MC_OUT"
  fi
  [[ $MC_OUT == *'"enabled":"Enabled"'* ]] ||
    fail "$not_set: bucket $pb at the peer has no Object Lock; MinIO replicates locked objects only into a bucket with Object Lock"

  local fingerprint hostport=${pe#*://}
  fingerprint=$(printf '%s\n%s\n%s\n' "$pe" "$pb" "$DRSTACK_PEER_REPLICATION_SECRET" | sha256sum)
  fingerprint=${fingerprint:0:32}

  if ! mc_try replicate ls --json "site/$b"; then
    [[ $MC_OUT == *"$REPLICATION_NOT_SET"* ]] || fail "read the replication rules of bucket $b: $MC_OUT"
    MC_OUT=""
  fi
  local rule="" line
  while IFS= read -r line; do
    if [[ $line == *"\"ID\":\"$REPLICATION_RULE_ID\""* ]]; then rule=$line; fi
  done <<<"$MC_OUT"
  local matches=0
  if [[ -n $rule ]]; then
    matches=1
    local want
    for want in '"Status":"Enabled","Priority":1' '"DeleteMarkerReplication":{"Status":"Enabled"}' \
      '"DeleteReplication":{"Status":"Disabled"}' '"ExistingObjectReplication":{"Status":"Enabled"}' \
      '"ReplicaModifications":{"Status":"Enabled"}'; do
      [[ $rule == *"$want"* ]] || matches=0
    done
    [[ $rule == *"\"Destination\":{\"Bucket\":\"arn:minio:replication::"*":$pb\"}"* ]] || matches=0
    mc_run "read the replication targets of bucket $b" replicate status --json "site/$b"
    local target="\"credentials\":{\"accessKey\":\"$REPLICATION_USER\""
    [[ $MC_OUT == *"\"endpoint\":\"$hostport\",$target"* ]] ||
      [[ $hostport != *:* && $MC_OUT == *"\"endpoint\":\"$hostport:"[0-9]*"\",$target"* ]] || matches=0
  fi
  if ((matches)); then
    if mc_try tag list --json "site/$b" && [[ $MC_OUT == *"\"$CREDENTIAL_TAG\":\"$fingerprint\""* ]]; then
      unchanged "replication rule $REPLICATION_RULE_ID from $b into $pb at $pe"
      return
    fi
  fi
  # metadata-sync is what `mc replicate add` enables by default and `update` turns off unless named.
  # Delete markers replicate, permanent deletes of a version ("delete") do not: with GOVERNANCE a
  # root user can bypass retention and delete versions, and the peer's copy must survive that.
  local flags=(--remote-bucket "peer/$pb" --replicate "delete-marker,existing-objects,metadata-sync" --priority 1 --id "$REPLICATION_RULE_ID")
  if [[ -z $rule ]]; then
    mc_run "$not_set: mc replicate add failed" replicate add "site/$b" "${flags[@]}"
    changed "added replication rule $REPLICATION_RULE_ID from $b into $pb at $pe"
  else
    mc_run "$not_set: mc replicate update failed" replicate update "site/$b" "${flags[@]}" --state enable
    changed "updated replication rule $REPLICATION_RULE_ID from $b into $pb at $pe"
  fi
  mc_run "record the replication credential fingerprint on bucket $b" tag set "site/$b" "$CREDENTIAL_TAG=$fingerprint"
}

setup() {
  validate_setup_env
  init_mc
  set_alias site "$DRSTACK_STORAGE_ENDPOINT" "$DRSTACK_STORAGE_ROOT_USER" "$DRSTACK_STORAGE_ROOT_PASSWORD"
  wait_ready
  ensure_backup_bucket
  ensure_default_retention
  ensure_lifecycle
  ensure_fencing_bucket
  ensure_users
  if [[ -n ${DRSTACK_PEER_STORAGE_ENDPOINT:-} ]]; then
    ensure_replication
  else
    say "no peer given (DRSTACK_PEER_*): replication not configured"
  fi
  say "setup done: $CHANGES change(s)"
}

# What is checked without a JSON parser: the text is one JSON object whose
# strings are closed, whose braces and brackets balance outside strings, with
# no control characters; and its top level has "format": "drstack.writer-claim/v1".
# Prints the object's top-level text (nested values left out) when it passes.
claim_top_level() {
  local s=$1 n=${#1} i c depth=0 in_str=0 esc=0 top="" started=0 ended=0
  for ((i = 0; i < n; i++)); do
    c=${s:i:1}
    if ((in_str)); then
      if [[ $c == [[:cntrl:]] ]]; then return 1; fi
      if ((esc)); then
        esc=0
      elif [[ $c == "\\" ]]; then
        esc=1
      elif [[ $c == '"' ]]; then
        in_str=0
      fi
      ((depth != 1)) || top+=$c
      continue
    fi
    case $c in
      ' ' | $'\t' | $'\n' | $'\r') continue ;;
    esac
    ((ended == 0)) || return 1
    if ((started == 0)); then
      [[ $c == '{' ]] || return 1
      started=1
      depth=1
      continue
    fi
    case $c in
      '"') in_str=1 ;;
      '{' | '[') depth=$((depth + 1)) ;;
      '}' | ']')
        depth=$((depth - 1))
        if ((depth == 0)); then
          [[ $c == '}' ]] || return 1
          ended=1
          continue
        fi
        ((depth > 0)) || return 1
        ;;
    esac
    ((depth != 1)) || top+=$c
  done
  ((ended == 1 && in_str == 0)) || return 1
  printf '%s' "$top"
}

claim() {
  check_endpoint DRSTACK_STORAGE_ENDPOINT
  check_root
  check_bucket DRSTACK_FENCING_BUCKET || true
  local top="" json=${DRSTACK_WRITER_CLAIM:-}
  if require DRSTACK_WRITER_CLAIM "set it to the writer claim's JSON text (infra/sitePlan.ts writerClaim())"; then
    if ! top=$(claim_top_level "$json"); then
      env_error "DRSTACK_WRITER_CLAIM is not a single well-formed JSON object"
    elif [[ ,$top, != *',"format":"drstack.writer-claim/v1",'* ]]; then
      env_error "DRSTACK_WRITER_CLAIM has no top-level \"format\": \"drstack.writer-claim/v1\""
    fi
  fi
  env_errors_exit
  init_mc
  set_alias site "$DRSTACK_STORAGE_ENDPOINT" "$DRSTACK_STORAGE_ROOT_USER" "$DRSTACK_STORAGE_ROOT_PASSWORD"
  wait_ready
  local f=$DRSTACK_FENCING_BUCKET key="writer-claim.json" current="$MC_CONFIG_DIR/current-claim" readback=""
  bucket_exists "$f" || fail "bucket $f does not exist at $DRSTACK_STORAGE_ENDPOINT: run storage-setup.sh setup first"
  if mc_try stat --json "site/$f/$key" && [[ $MC_OUT == *'"Content-Type":"application/json"'* ]] &&
    mc --quiet cat "site/$f/$key" >"$current" 2>/dev/null; then
    IFS= read -r -d '' readback <"$current" || true
  fi
  if [[ $readback == "$json" ]]; then
    unchanged "$f/$key"
  else
    if ! MC_OUT=$(printf '%s' "$json" | mc --quiet --no-color pipe --attr "Content-Type=application/json" "site/$f/$key" 2>&1); then
      fail "write $f/$key: $MC_OUT"
    fi
    changed "wrote $f/$key"
  fi
  mc_run "read back $f/$key" stat --json "site/$f/$key"
  [[ $MC_OUT == *'"Content-Type":"application/json"'* ]] || fail "read back $f/$key: its content type is not application/json: $MC_OUT"
  if ! mc --quiet cat "site/$f/$key" >"$current" 2>"$current.err"; then
    fail "read back $f/$key: $(<"$current.err")"
  fi
  readback=""
  IFS= read -r -d '' readback <"$current" || true
  [[ $readback == "$json" ]] || fail "read back $f/$key: it differs from DRSTACK_WRITER_CLAIM (another writer?): $readback"
  say "claim done: $CHANGES change(s)"
}

case ${1:-} in
  setup) setup ;;
  claim) claim ;;
  *)
    printf 'usage: %s setup|claim (see the comment at the top for the environment)\n' "$0" >&2
    exit 64
    ;;
esac
