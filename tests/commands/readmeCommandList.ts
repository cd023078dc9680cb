import { missingLambdaBundles } from "../../infra/lambdaBundles";

/**
 * The reviewed decision for every command README.md tells a reader to type
 * (docs/readmeCommands.ts finds them). Each is in exactly one list:
 * - RUN_HERE: tests/commands/readmeCommands.test.ts runs it exactly as written
 *   and checks its exit status and what it prints;
 * - RUN_BY_CI: `.ci/run` runs it exactly as written (tests/unit/readmeCommands.test.ts
 *   checks that it does), because running it inside a test would recurse or
 *   install things;
 * - NOT_RUN_HERE: it needs what this machine and CI do not have, for the reason given.
 * tests/unit/readmeCommands.test.ts fails on a README command in none of
 * them, so a new command is never silently unchecked.
 */

export interface CommandRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** The throwaway checkout it ran in. */
  checkout: string;
}

export interface RunHere {
  command: string;
  /** Files the throwaway checkout gets (committed, so they leave it unchanged), copied from the project's own. */
  fixtures?: Record<string, string>;
  /** Paths under the checkout removed first, so the command must make them itself. */
  removeFirst?: string[];
  exitCode: number;
  /** What shows the command did its job; throws (a jest expectation) when it did not. */
  expectOutput: (run: CommandRun) => void;
}

export interface Reviewed {
  command: string;
  why: string;
}

interface PlanJson {
  stack: string;
  outputs: Record<string, unknown>;
  posture: unknown;
}

/** The cheaper example's plan: it warns with what it misses, and deploys anyway (objectivesEnforcement: warn). */
function cheapExamplePlanned({ stdout, stderr }: CommandRun): void {
  expect(stdout).toContain("drstack plan: stack primary");
  expect(`${stdout}\n${stderr}`).toMatch(/not met/i);
}

export const RUN_HERE: RunHere[] = [
  {
    command: "npm run build:lambdas",
    removeFirst: ["dist"],
    exitCode: 0,
    expectOutput: ({ checkout }) => expect(missingLambdaBundles(checkout)).toEqual([]),
  },
  {
    command: "npx drstack-backup --help",
    exitCode: 0,
    expectOutput: ({ stdout }) => {
      expect(stdout).toMatch(/\bbackup\b[\s\S]*\bverify\b[\s\S]*\brestore\b/);
      expect(stdout).toContain("--data-class");
    },
  },
  {
    command: "npm run plan -- --stack primary",
    exitCode: 0,
    expectOutput: ({ stdout }) => {
      expect(stdout).toContain("drstack plan: stack primary (site primary, active, region us-west-2, activeSite=primary, databaseEngine=postgres)");
      expect(stdout).toMatch(/^Storage \(\d+\)$/m);
    },
  },
  {
    command: "npx drstack plan --stack secondary --set activeSite=secondary --json",
    exitCode: 0,
    expectOutput: ({ stdout }) => {
      const plan = JSON.parse(stdout) as PlanJson;
      expect(plan.stack).toBe("secondary");
      expect(plan.outputs).toMatchObject({ activeSite: "secondary", role: "active", databaseMode: "writer" });
      expect(plan.posture).toBeDefined();
    },
  },
  {
    command: "npx drstack diff --stack secondary --rehearse-failover",
    exitCode: 0,
    expectOutput: ({ stdout }) => {
      expect(stdout).toContain("### secondary: failover rehearsal (activeSite=secondary)");
      expect(stdout).toContain("promoted to a standalone writer");
    },
  },
  {
    // In the throwaway checkout origin/main is the checkout's own commit: a
    // base that is the same program must show no change at all (no noise
    // from where the checkout happens to be).
    command: "npx drstack diff --stack primary --base origin/main",
    exitCode: 0,
    expectOutput: ({ stdout }) => {
      expect(stdout).toContain("### primary: origin/main -> this change");
      expect(stdout).toContain("**no DR findings** · 0 added, 0 removed, 0 replaced, 0 changed");
    },
  },
  {
    // A hand-written `pulumi preview --json` that replaces two data stores: blocking, so exit 3.
    command: "npx drstack diff --from-preview preview.json",
    fixtures: { "preview.json": "tests/fixtures/preview-replace.json" },
    exitCode: 3,
    expectOutput: ({ stdout }) => {
      expect(stdout).toContain("**2 blocking findings**");
      expect(stdout).toContain("S3 bucket `secondary-backups-bucket` would be REPLACED");
    },
  },
  {
    // What it regenerates is current, so the checkout stays unchanged (checked after every command).
    command: "npm run docs",
    exitCode: 0,
    expectOutput: ({ stdout }) => expect(stdout).toContain("README.md blocks regenerated"),
  },
  {
    command: "npm run docs:rehearsal",
    exitCode: 0,
    expectOutput: ({ stdout }) => expect(stdout).toContain("README.md failover rehearsal and example postures regenerated"),
  },
  {
    command: "npx drstack plan --stack primary --stack-dir examples/cheap",
    exitCode: 0,
    expectOutput: cheapExamplePlanned,
  },
  {
    command: "npm run plan -- --stack primary --stack-dir examples/cheap",
    exitCode: 0,
    expectOutput: cheapExamplePlanned,
  },
  {
    command: "npm run plan -- --stack primary --stack-dir examples/docker",
    exitCode: 0,
    expectOutput: ({ stdout }) => {
      expect(stdout).toContain("drstack plan: stack primary (site primary, active, region bern-dc1");
      expect(stdout).toContain("docker:index/container:Container");
      expect(stdout).not.toContain("offline-placeholder-for-");
    },
  },
  {
    // The path before --selectProjects, which takes every word after it as a project name.
    command: "npx jest tests/unit/readme.test.ts --selectProjects unit",
    exitCode: 0,
    expectOutput: ({ stderr }) => {
      expect(stderr).toContain("PASS unit tests/unit/readme.test.ts");
      expect(stderr).toContain("Test Suites: 1 passed, 1 total");
    },
  },
];

export const RUN_BY_CI: Reviewed[] = [
  { command: "npm ci && npm run plan -- --stack primary", why: "npm ci replaces the node_modules this suite runs from; its plan half runs here as the PR-preview block writes it" },
  { command: "npm ci", why: "replaces the node_modules this suite runs from" },
  { command: "npm run test:all", why: "runs every suite, this one included" },
  { command: "npm run typecheck", why: "tsc over the whole project: a step of its own in CI, not a test" },
  { command: "bash scripts/lint-workflows.sh", why: "go installs actionlint when it is missing" },
];

const PULUMI = "needs the Pulumi CLI, a state backend and the account's AWS credentials";
const RECOVERY_HOSTS =
  "needs the deployed writer and recovery instance (their hosts come from the stack's outputs) and the account's credentials; tests/unit/pointInTimeRecovery.test.ts covers what the program declares";
const TABLE_RESTORE =
  "needs the site's database host (db) and its backups; tests/integration/table-restore.test.ts runs the same restore flags against local PostgreSQL and MinIO";
const ON_PREMISES =
  "needs the on-premises site's hosts (minio.internal, minio-dr, db, scratch) and credentials; tests/integration/backup-restore.test.ts runs backup, verify and restore through the same CLI against local PostgreSQL and MinIO";

export const NOT_RUN_HERE: Reviewed[] = [
  { command: "npm run plan", why: "the script's name in prose: without --stack it is a usage error; README's `npm run plan -- --stack primary` runs here" },
  { command: "npm test", why: "the unit suite, which holds the check of this list; npm run test:all runs it" },
  { command: "npm run test:failover", why: "a suite of its own, which npm run test:all runs" },
  { command: "npm run test:commands", why: "this very suite, which npm run test:all runs" },
  { command: "npm run test:integration", why: "a suite of its own on real services, which npm run test:all runs" },
  { command: "npm run bench:backup", why: "seeds a database of more than 1 GB and dumps it round after round: many minutes of a shared machine; README's figures come from a run by hand" },
  { command: "bash scripts/publish-backup-image.sh", why: "builds with Docker buildx and pushes to ECR in both regions: needs Docker and the account's AWS credentials" },
  { command: "export S3_ENDPOINT=http://minio.internal:9000 S3_ACCESS_KEY_ID=... S3_SECRET_ACCESS_KEY=... BACKUP_BUCKET=backups", why: ON_PREMISES },
  { command: "npx drstack-backup backup --database-url postgres://backup:secret@db:5432/shop --tier critical --data-class critical", why: ON_PREMISES },
  { command: "npx drstack-backup verify --targets shop:critical --peer-bucket backups-dr --peer-s3-endpoint http://minio-dr:9000", why: ON_PREMISES },
  {
    command: "npx drstack-backup restore --name shop --data-class critical --target-database-url postgres://restore:secret@scratch:5432/restore_test",
    why: ON_PREMISES,
  },
  { command: "pulumi stack init primary && pulumi stack init secondary", why: PULUMI },
  { command: "pulumi -s primary config set --secret kubeconfig < kubeconfig-primary.yaml", why: `${PULUMI}, and each site's kubeconfig` },
  { command: "pulumi -s secondary config set --secret kubeconfig < kubeconfig-secondary.yaml", why: `${PULUMI}, and each site's kubeconfig` },
  { command: "pulumi -s primary config set clusterVpcId vpc-...", why: PULUMI },
  { command: "pulumi -s primary config set --path 'clusterSecurityGroupIds[0]' sg-...", why: PULUMI },
  {
    command: "pulumi -s primary config set --path 'dataSubnetCidrs[0]' 10.10.240.0/24 && pulumi -s primary config set --path 'dataSubnetCidrs[1]' 10.10.241.0/24",
    why: PULUMI,
  },
  {
    command: "pulumi -s primary config set --path 'dataSubnetZoneIds[0]' usw2-az1 && pulumi -s primary config set --path 'dataSubnetZoneIds[1]' usw2-az2",
    why: PULUMI,
  },
  { command: "pulumi -s primary config set backupImageDigest sha256:...", why: PULUMI },
  { command: "pulumi -s secondary config set backupImageDigest sha256:...", why: PULUMI },
  { command: "pulumi -s primary config set peerProvisioned false", why: PULUMI },
  { command: "docker build -f lambdas/backup-image/Dockerfile --build-arg DATABASE_ENGINE=postgres -t registry.example.ch/drstack/backup:1 .", why: "needs a Docker engine, which this machine and CI do not have; the Dockerfile's rules are unit-tested (tests/unit/config.test.ts)" },
  { command: "docker push registry.example.ch/drstack/backup:1", why: "needs a Docker engine and the team's own registry" },
  { command: 'pulumi -s primary config set --secret databaseSuperuserPassword "$(openssl rand -hex 16)"', why: PULUMI },
  { command: 'pulumi -s secondary config set --secret databaseSuperuserPassword "$(pulumi -s primary config get databaseSuperuserPassword)"', why: PULUMI },
  { command: "pulumi -s primary config set --secret siteTlsKey < primary.key", why: PULUMI },
  { command: "pulumi -s primary up", why: PULUMI },
  { command: "pulumi -s secondary up", why: PULUMI },
  { command: "pulumi -s primary config rm peerProvisioned", why: PULUMI },
  { command: "pulumi -s secondary config set activeSite secondary", why: PULUMI },
  { command: "pulumi -s primary config set activeSite secondary", why: PULUMI },
  {
    command: 'npx drstack-backup drill --name shop --data-class critical --scratch-server-url postgres://restore:secret@scratch:5432/postgres --smoke-query "SELECT count(*) > 0 FROM public.orders"',
    why: "needs the on-premises scratch server and the site's bucket; tests/integration/drill.test.ts runs the drill against local PostgreSQL and MinIO",
  },
  {
    command: "aws s3 sync s3://acme-shop-dr-backups-primary-us-west-2/db/shop/drills/ ./drills/db/shop/drills/",
    why: "reads a deployed site's bucket; the integration drill tests write real reports to MinIO",
  },
  {
    command: "aws s3 sync s3://acme-shop-dr-backups-primary-us-west-2/financial/ledger/drills/ ./drills/financial/ledger/drills/",
    why: "reads a deployed site's bucket; the integration drill tests write real reports to MinIO",
  },
  {
    command: "node /var/task/tasks/drill.js",
    why: "the drill task's command inside the backup image on Fargate; tests/integration/drill-handler.test.ts runs the same bundle (dist/lambdas/backup/tasks/drill.js) as its own process",
  },
  {
    command: "npx drstack plan --stack primary --drills ./drills",
    why: "needs the reports the command before copies; tests/unit/drillHistory.test.ts runs the same plan --drills on reports it writes",
  },
  { command: "npm run bench:lookup", why: "seeds 100,000 manifests into MinIO and lists them round after round: minutes of a shared machine; README's figures come from a run by hand" },
  { command: "export TARGET=postgres://admin:secret@db:5432/shop", why: TABLE_RESTORE },
  { command: 'npx drstack-backup restore --name shop --table public.orders --before 2026-12-02T12:00:00Z --into-schema recovered --target-database-url "$TARGET"', why: TABLE_RESTORE },
  { command: 'psql "$TARGET" -c "SELECT count(*) FROM recovered.orders" -c "SELECT count(*) FROM public.orders"', why: TABLE_RESTORE },
  { command: 'npx drstack-backup restore --name shop --table public.orders --before 2026-12-02T12:00:00Z --clean --target-database-url "$TARGET"', why: TABLE_RESTORE },
  { command: "pulumi -s primary config set recoveryPointInTime 2026-12-02T14:29:00Z", why: PULUMI },
  { command: "RECOVERED=$(pulumi -s primary stack output recoveryDatabaseEndpoint)", why: PULUMI },
  { command: "WRITER=$(pulumi -s primary stack output databaseEndpoint)", why: PULUMI },
  { command: "curl -so global-bundle.pem https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem", why: "downloads from AWS, which this machine cannot reach; the backup image carries the same bundle (lambdas/backup-image/Dockerfile)" },
  { command: "export PGSSLMODE=verify-full PGSSLROOTCERT=global-bundle.pem PGUSER=drstack PGDATABASE=shop", why: RECOVERY_HOSTS },
  {
    command: "export PGPASSWORD=$(aws secretsmanager get-secret-value --secret-id acme-shop-dr/primary/db --query SecretString --output text | jq -r .password)",
    why: RECOVERY_HOSTS,
  },
  { command: "psql -h \"$RECOVERED\" -c 'SELECT count(*) FROM orders'", why: RECOVERY_HOSTS },
  { command: "psql -h \"$WRITER\" -c 'SELECT count(*) FROM orders'", why: RECOVERY_HOSTS },
  { command: "psql -h \"$WRITER\" -c 'CREATE TABLE recovered_orders (LIKE orders INCLUDING ALL)'", why: RECOVERY_HOSTS },
  { command: "psql -h \"$RECOVERED\" -c '\\copy orders TO STDOUT' | psql -h \"$WRITER\" -c '\\copy recovered_orders FROM STDIN'", why: RECOVERY_HOSTS },
  { command: "psql -h \"$WRITER\" -c 'INSERT INTO orders SELECT r.* FROM recovered_orders r WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = r.id)'", why: RECOVERY_HOSTS },
  { command: "pulumi -s primary config rm recoveryPointInTime", why: PULUMI },
];
