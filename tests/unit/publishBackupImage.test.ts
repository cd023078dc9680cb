import { backupImageContractSuffix } from "../../infra/backupContract";
import * as fs from "fs";
import * as path from "path";
import { imageEngine, stackSetting } from "../../scripts/workflowChecks";
import { fakeBin, REPOSITORY_ROOT, runScript, scratchDir, ShellResult } from "./fakeCommands";

/**
 * scripts/publish-backup-image.sh, run for real against stand-ins for ECR
 * (aws) and the registry side of Docker (docker): each region's repository is
 * a file holding the digest its tag points to. The stand-ins keep the rules
 * the script depends on:
 * - an immutable ECR repository refuses to push a tag it already holds, even
 *   with the same digest (aws/containers-roadmap#2179, moby/buildkit#3776);
 * - describe-images of a missing tag fails with ImageNotFoundException (exit 254);
 * - a rebuild yields a new digest (builds are not reproducible);
 * - `buildx imagetools create` with one source and --prefer-index=false copies
 *   the manifest as it is, so the digest is kept; without it the result is a
 *   new index with another digest (docs.docker.com, buildx imagetools create).
 */

const ACCOUNT = "123456789012";
const PRIMARY = stackSetting("primary", "primaryRegion")!;
const SECONDARY = stackSetting("secondary", "secondaryRegion")!;
const REPOSITORY = `${stackSetting("secondary", "namePrefix")}/drstack-backup`;
/** IMAGE_TAG below, with the contract suffix the stacks require of the backup image. */
const TAG = `0123456789ab${backupImageContractSuffix("postgres")}`;

const AWS = `
echo "aws $*" >> "$FAKE_LOG"
region=""
previous=""
for argument in "$@"; do
  if [ "$previous" = "--region" ]; then region="$argument"; fi
  previous="$argument"
done
case "$1 $2" in
  "sts get-caller-identity") echo "${ACCOUNT}" ;;
  "ecr describe-repositories" | "ecr create-repository") ;;
  "ecr get-login-password") echo "a-password" ;;
  "ecr describe-images")
    if [ -f "$FAKE_ECR/$region.denied" ]; then
      echo "An error occurred (AccessDeniedException) when calling the DescribeImages operation: not authorized" >&2
      exit 254
    fi
    if [ ! -f "$FAKE_ECR/$region" ]; then
      echo "An error occurred (ImageNotFoundException) when calling the DescribeImages operation: The image with imageId {imageTag:'$IMAGE_TAG'} does not exist" >&2
      exit 254
    fi
    cat "$FAKE_ECR/$region" ;;
  *) echo "fake aws: unexpected $*" >&2; exit 2 ;;
esac`;

const DOCKER = `
echo "docker $*" >> "$FAKE_LOG"
region_of() {
  local host="\${1%%/*}"
  host="\${host#*.dkr.ecr.}"
  printf '%s\n' "\${host%.amazonaws.com}"
}
# Pushes digest $2 to every tag in $1...; like buildx, a failed tag does not undo the others.
push() {
  local digest="$1" failed=0 target region
  shift
  for target in "$@"; do
    region="$(region_of "$target")"
    if [ -f "$FAKE_ECR/$region" ]; then
      echo "tag invalid: The image tag '$IMAGE_TAG' already exists in the repository and cannot be overwritten because the repository is immutable." >&2
      failed=1
    elif [ -f "$FAKE_ECR/$region.unreachable" ]; then
      echo "failed to push $target: connection reset by peer" >&2
      failed=1
    else
      echo "$digest" > "$FAKE_ECR/$region"
    fi
  done
  return "$failed"
}
tags=()
previous=""
for argument in "$@"; do
  if [ "$previous" = "--tag" ]; then tags+=("$argument"); fi
  previous="$argument"
done
case "$1 $2" in
  "login --username") cat > /dev/null ;;
  "buildx build")
    digest="sha256:$(printf 'build %s' "$(date +%s%N)" | sha256sum | cut -d' ' -f1)"
    push "$digest" "\${tags[@]}" ;;
  "buildx imagetools")
    source="\${*: -1}"
    digest="\${source#*@}"
    case " $* " in
      *" --prefer-index=false "*) ;;
      *) digest="sha256:$(printf 'index of %s' "$digest" | sha256sum | cut -d' ' -f1)" ;;
    esac
    push "$digest" "\${tags[@]}" ;;
  *) echo "fake docker: unexpected $*" >&2; exit 2 ;;
esac`;

interface Registry {
  dir: string;
  log: string;
  bin: string;
}

function registry(): Registry {
  const dir = scratchDir();
  return { dir, log: path.join(dir, "calls.log"), bin: fakeBin({ aws: AWS, docker: DOCKER, npm: 'echo "npm $*" >> "$FAKE_LOG"' }) };
}

function digestIn({ dir }: Registry, region: string): string | undefined {
  const file = path.join(dir, region);
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim() : undefined;
}

function publish(target: Registry, extraEnv: Record<string, string> = {}): ShellResult & { calls: string[]; githubOutput: string } {
  fs.rmSync(target.log, { force: true });
  const githubOutput = path.join(target.dir, "github-output");
  fs.writeFileSync(githubOutput, "");
  const result = runScript("scripts/publish-backup-image.sh", {
    bin: target.bin,
    env: { FAKE_ECR: target.dir, FAKE_LOG: target.log, IMAGE_TAG: "0123456789ab", GITHUB_OUTPUT: githubOutput, ...extraEnv },
  });
  const calls = fs.existsSync(target.log) ? fs.readFileSync(target.log, "utf8").trim().split("\n") : [];
  return { ...result, calls, githubOutput: fs.readFileSync(githubOutput, "utf8") };
}

const builds = (calls: string[]) => calls.filter((call) => call.startsWith("docker buildx build"));
const copies = (calls: string[]) => calls.filter((call) => call.startsWith("docker buildx imagetools create"));
const registryOf = (region: string) => `${ACCOUNT}.dkr.ecr.${region}.amazonaws.com`;

describe("scripts/publish-backup-image.sh, run against stand-ins for ECR and Docker", () => {
  const script = fs.readFileSync(path.join(REPOSITORY_ROOT, "scripts", "publish-backup-image.sh"), "utf8");

  // Lambda rejects an image index, which buildx pushes by default with provenance attestations
  // (https://github.com/aws/aws-lambda-roadmap/issues/82, https://github.com/docker/buildx/issues/1533).
  test("builds one x86_64 image manifest, without attestations", () => {
    expect(script).toMatch(/--platform linux\/amd64/);
    expect(script).toMatch(/--provenance=false --sbom=false/);
    expect(script).toMatch(/oci-mediatypes=false/);
  });

  test("a first run builds once and pushes the same digest to both regions under one tag", () => {
    const target = registry();
    const run = publish(target);
    expect(run.status).toBe(0);
    expect(builds(run.calls)).toHaveLength(1);
    expect(builds(run.calls)[0]).toContain(`--tag ${registryOf(PRIMARY)}/${REPOSITORY}:${TAG} --tag ${registryOf(SECONDARY)}/${REPOSITORY}:${TAG}`);
    const digest = digestIn(target, PRIMARY)!;
    expect(digestIn(target, SECONDARY)).toBe(digest);
    expect(run.stdout).toContain(`pulumi -s secondary config set backupImageDigest ${digest}`);
    expect(run.githubOutput).toBe(`digest=${digest}\n`);
  });

  test("builds for the stack files' databaseEngine and names it in the tag the stacks require (-contract3-<engine>)", () => {
    const target = registry();
    const run = publish(target);
    expect(run.status).toBe(0);
    expect(TAG).toMatch(/-contract3-postgres$/);
    expect(builds(run.calls)[0]).toContain("--build-arg DATABASE_ENGINE=postgres");
  });

  test.each(["mysql", "mariadb"])("DATABASE_ENGINE=%s builds that engine's image under that engine's tag", (engine) => {
    const target = registry();
    const run = publish(target, { DATABASE_ENGINE: engine });
    expect(run.status).toBe(0);
    const tag = `0123456789ab${backupImageContractSuffix(engine as "mysql" | "mariadb")}`;
    expect(builds(run.calls)[0]).toContain(`--build-arg DATABASE_ENGINE=${engine}`);
    expect(builds(run.calls)[0]).toContain(`--tag ${registryOf(PRIMARY)}/${REPOSITORY}:${tag} --tag ${registryOf(SECONDARY)}/${REPOSITORY}:${tag}`);
  });

  test("the engine comes from the stack files, which must agree; DATABASE_ENGINE overrides it", () => {
    expect(imageEngine(undefined)).toEqual({ ok: true, engine: "postgres" });
    expect(imageEngine("mariadb")).toEqual({ ok: true, engine: "mariadb" });
    const root = scratchDir();
    for (const file of ["Pulumi.yaml", "Pulumi.primary.yaml", "Pulumi.secondary.yaml"]) {
      fs.copyFileSync(path.join(REPOSITORY_ROOT, file), path.join(root, file));
    }
    const secondary = path.join(root, "Pulumi.secondary.yaml");
    fs.writeFileSync(secondary, fs.readFileSync(secondary, "utf8").replace("drstack:databaseEngine: postgres", "drstack:databaseEngine: mysql"));
    expect(imageEngine(undefined, root)).toEqual({
      ok: false,
      message: "databaseEngine is postgres in Pulumi.primary.yaml but mysql in Pulumi.secondary.yaml; both stacks run the same engine and one backup image",
    });
  });

  test("an engine drstack does not run stops the script before anything is created or pushed", () => {
    const target = registry();
    const run = publish(target, { DATABASE_ENGINE: "oracle" });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain("DATABASE_ENGINE=oracle is not an engine drstack runs (postgres, mysql, mariadb)");
    expect(run.calls.filter((call) => call.startsWith("aws ecr create-repository") || call.startsWith("docker"))).toEqual([]);
  });

  test.each([
    ["the secondary", SECONDARY, PRIMARY],
    ["the primary", PRIMARY, SECONDARY],
  ])("a run whose push to %s failed is repaired by the next run: the published manifest is copied, nothing is rebuilt", (_name, lost, kept) => {
    const target = registry();
    fs.writeFileSync(path.join(target.dir, `${lost}.unreachable`), "");
    const broken = publish(target);
    expect(broken.status).not.toBe(0);
    const published = digestIn(target, kept)!;
    expect(published).toMatch(/^sha256:/);
    expect(digestIn(target, lost)).toBeUndefined();

    fs.rmSync(path.join(target.dir, `${lost}.unreachable`));
    const repair = publish(target);
    expect(repair.status).toBe(0);
    expect(builds(repair.calls)).toEqual([]);
    expect(copies(repair.calls)).toEqual([
      `docker buildx imagetools create --prefer-index=false --tag ${registryOf(lost)}/${REPOSITORY}:${TAG} ${registryOf(kept)}/${REPOSITORY}@${published}`,
    ]);
    expect(digestIn(target, lost)).toBe(published);
    expect(repair.stdout).toContain(`published ${REPOSITORY}:${TAG} to ${PRIMARY} and ${SECONDARY} as ${published}`);

    const again = publish(target);
    expect({ status: again.status, builds: builds(again.calls), copies: copies(again.calls) }).toEqual({ status: 0, builds: [], copies: [] });
    expect(again.stdout).toContain(`backupImageDigest ${published}`);
  });

  test("a region whose tag cannot be read stops the run before anything is built or pushed", () => {
    const target = registry();
    fs.writeFileSync(path.join(target.dir, `${SECONDARY}.denied`), "");
    const run = publish(target);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(`cannot read ${REPOSITORY}:${TAG} in ${SECONDARY}`);
    expect(run.stderr).toContain("AccessDeniedException");
    expect([...builds(run.calls), ...copies(run.calls)]).toEqual([]);
    expect(digestIn(target, PRIMARY)).toBeUndefined();
  });

  test("a tag holding different digests in the two regions stops with the fix, since immutable tags cannot be repaired", () => {
    const target = registry();
    fs.writeFileSync(path.join(target.dir, PRIMARY), "sha256:" + "a".repeat(64));
    fs.writeFileSync(path.join(target.dir, SECONDARY), "sha256:" + "b".repeat(64));
    const run = publish(target);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/differs between .*publish a new IMAGE_TAG/);
    expect([...builds(run.calls), ...copies(run.calls)]).toEqual([]);
    expect(run.githubOutput).toBe("");
  });
});
