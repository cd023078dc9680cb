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
# Needs Docker with buildx, the AWS CLI, Node.js (npm install done) and
# credentials for the account in both regions. IMAGE_TAG defaults to the
# commit; a tag already published to both regions is reused, not rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."

settings="$(npx --no-install tsx scripts/workflowChecks.ts regions)"
setting() { printf '%s\n' "$settings" | sed -n "s/^$1=//p"; }
primary="$(setting primary)"
secondary="$(setting secondary)"
prefix="$(setting namePrefix)"
repository="$prefix/drstack-backup"
tag="${IMAGE_TAG:-$(git rev-parse --short=12 HEAD)}"
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

digest_in() {
  aws ecr describe-images --region "$1" --repository-name "$repository" --image-ids "imageTag=$tag" \
    --query 'imageDetails[0].imageDigest' --output text 2>/dev/null || true
}

if [ -z "$(digest_in "$primary")" ] || [ -z "$(digest_in "$secondary")" ] || [ "$(digest_in "$primary")" = "None" ] || [ "$(digest_in "$secondary")" = "None" ]; then
  for region in "$primary" "$secondary"; do
    aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$account.dkr.ecr.$region.amazonaws.com"
  done
  npm run build:lambdas
  docker buildx build \
    --platform linux/amd64 \
    --provenance=false --sbom=false \
    --output "type=registry,oci-mediatypes=false" \
    --file lambdas/backup-image/Dockerfile \
    --tag "$account.dkr.ecr.$primary.amazonaws.com/$repository:$tag" \
    --tag "$account.dkr.ecr.$secondary.amazonaws.com/$repository:$tag" \
    .
fi

primary_digest="$(digest_in "$primary")"
secondary_digest="$(digest_in "$secondary")"
if [ "$primary_digest" != "$secondary_digest" ] || [[ "$primary_digest" != sha256:* ]]; then
  echo "the image tagged $tag differs between $primary ($primary_digest) and $secondary ($secondary_digest); publish a new IMAGE_TAG" >&2
  exit 1
fi

echo "published $repository:$tag to $primary and $secondary as $primary_digest"
echo "pulumi -s primary config set backupImageDigest $primary_digest"
echo "pulumi -s secondary config set backupImageDigest $primary_digest"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "digest=$primary_digest" >> "$GITHUB_OUTPUT"
fi
