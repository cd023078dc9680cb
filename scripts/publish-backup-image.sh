#!/usr/bin/env bash
# Publishes drstack's backup job image (lambdas/backup-image/Dockerfile) to
# both sites' regions, for CI (.github/workflows/backup-image.yml) or an
# operator's machine, never on the failover path:
#
# 1. makes sure the repositories the stacks expect exist in both regions:
#    <namePrefix>/app (the application's CI pushes to it; ECR replication,
#    which each stack declares, copies releases between the regions) and
#    <namePrefix>/drstack-backup, with immutable tags and scan on push;
# 2. builds the image once, for Lambda's x86_64, with Docker buildx, and
#    pushes the same manifest under one tag to both regions, so both regions
#    hold the same digest. Provenance and SBOM attestations are off and the
#    media types are Docker's: with attestations buildx pushes an image index,
#    which Lambda rejects (https://github.com/aws/aws-lambda-roadmap/issues/82);
# 3. prints the digest and the config commands that name it.
#
# Needs Docker with buildx, the AWS CLI, Node.js (npm ci done) and
# credentials for the account in both regions. IMAGE_TAG defaults to the
# commit; the tag pushed is IMAGE_TAG followed by the contract suffix and the
# engine the image is built for (`-contract<N>-<engine>`). The engine is the
# stack files' databaseEngine (postgres, mysql or mariadb), or DATABASE_ENGINE
# when set; it is passed to the build as the DATABASE_ENGINE build argument.
#
# Re-running is safe and repairs a half-finished run. The tag decides what
# happens, region by region:
#   - in neither region: build once and push to both;
#   - in one region only (a run that pushed there and then failed): copy that
#     region's manifest, byte for byte, to the other with
#     `docker buildx imagetools create --prefer-index=false`, so the digest is
#     the one already published. Nothing is rebuilt: a rebuild would give a
#     different digest, and the tags are immutable, so it could never be pushed
#     where the tag already is;
#   - in both with the same digest: nothing to do;
#   - in both with different digests: stop; immutable tags cannot be repaired,
#     publish under a new IMAGE_TAG.
# A region whose tag cannot be read (credentials, permissions, throttling)
# stops the script: it is never taken for a region that lacks the image.
set -euo pipefail
cd "$(dirname "$0")/.."

settings="$(npx --no-install tsx scripts/workflowChecks.ts regions)"
setting() { printf '%s\n' "$settings" | sed -n "s/^$1=//p"; }
primary="$(setting primary)"
secondary="$(setting secondary)"
prefix="$(setting namePrefix)"
repository="$prefix/drstack-backup"
engine="$(setting databaseEngine)"
# The suffix says which contract (infra/backupContract.ts, BACKUP_IMAGE_CONTRACT)
# the image meets, and for which engine; the stacks refuse a backup image without theirs.
tag="${IMAGE_TAG:-$(git rev-parse --short=12 HEAD)}$(setting imageTagSuffix)"
account="$(aws sts get-caller-identity --query Account --output text)"

for region in "$primary" "$secondary"; do
  for repo in "$prefix/app" "$repository"; do
    if ! aws ecr describe-repositories --region "$region" --repository-names "$repo" >/dev/null 2>&1; then
      echo "creating $repo in $region"
      aws ecr create-repository --region "$region" --repository-name "$repo" \
        --image-tag-mutability IMMUTABLE --image-scanning-configuration scanOnPush=true >/dev/null
    fi
  done
done

registry() { printf '%s.dkr.ecr.%s.amazonaws.com' "$account" "$1"; }

# Prints the digest the tag has in region $1, or nothing when the tag is not
# there (ImageNotFoundException); fails on any other error.
digest_in() {
  local errors digest
  errors="$(mktemp)"
  if digest="$(aws ecr describe-images --region "$1" --repository-name "$repository" --image-ids "imageTag=$tag" \
    --query 'imageDetails[0].imageDigest' --output text 2>"$errors")"; then
    rm -f "$errors"
    if [[ "$digest" != sha256:* ]]; then
      echo "ECR answered $digest for $repository:$tag in $1, not a digest" >&2
      return 1
    fi
    printf '%s\n' "$digest"
  elif grep -q ImageNotFoundException "$errors"; then
    rm -f "$errors"
  else
    echo "cannot read $repository:$tag in $1; nothing was pushed:" >&2
    cat "$errors" >&2
    rm -f "$errors"
    return 1
  fi
}

login() {
  aws ecr get-login-password --region "$1" | docker login --username AWS --password-stdin "$(registry "$1")"
}

# Copies the manifest tagged in region $1 (digest $2) to region $3 under the same tag.
copy_image() {
  echo "$repository:$tag is in $1 only; copying $2 to $3"
  docker buildx imagetools create --prefer-index=false \
    --tag "$(registry "$3")/$repository:$tag" \
    "$(registry "$1")/$repository@$2"
}

primary_digest="$(digest_in "$primary")"
secondary_digest="$(digest_in "$secondary")"

if [ -n "$primary_digest" ] && [ -n "$secondary_digest" ]; then
  echo "$repository:$tag is already in $primary and $secondary"
else
  login "$primary"
  login "$secondary"
  if [ -z "$primary_digest" ] && [ -z "$secondary_digest" ]; then
    npm run build:lambdas
    docker buildx build \
      --platform linux/amd64 \
      --provenance=false --sbom=false \
      --output "type=registry,oci-mediatypes=false" \
      --file lambdas/backup-image/Dockerfile \
      --build-arg "DATABASE_ENGINE=$engine" \
      --tag "$(registry "$primary")/$repository:$tag" \
      --tag "$(registry "$secondary")/$repository:$tag" \
      .
  elif [ -z "$secondary_digest" ]; then
    copy_image "$primary" "$primary_digest" "$secondary"
  else
    copy_image "$secondary" "$secondary_digest" "$primary"
  fi
  primary_digest="$(digest_in "$primary")"
  secondary_digest="$(digest_in "$secondary")"
fi

if [ "$primary_digest" != "$secondary_digest" ] || [[ "$primary_digest" != sha256:* ]]; then
  echo "the image tagged $tag differs between $primary (${primary_digest:-missing}) and $secondary (${secondary_digest:-missing}); ECR tags are immutable, so publish a new IMAGE_TAG" >&2
  exit 1
fi

echo "published $repository:$tag to $primary and $secondary as $primary_digest"
echo "pulumi -s primary config set backupImageDigest $primary_digest"
echo "pulumi -s secondary config set backupImageDigest $primary_digest"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "digest=$primary_digest" >> "$GITHUB_OUTPUT"
fi
