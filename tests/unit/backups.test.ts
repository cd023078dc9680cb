import { BACKUP_HANDLER, VERIFY_HANDLER } from "../../infra/backupContract";
import { backupsScheduled } from "../../infra/sitePlan";
import { VPC_EXECUTION_POLICY_ARN } from "../../infra/backups";
import { roleOf } from "../../infra/roles";
import { Evaluation } from "../../offline/evaluate";
import { readStackConfig } from "../../offline/stackFiles";
import { asArray, evaluate, parsePolicy, ParsedStatement, resourcesOfType, single, STACK_CASES, within } from "./evaluations";

// Each evaluation of the program takes seconds; several in one test outgrow jest's 5 s default on a busy machine.
jest.setTimeout(60_000);

const BACKUPS = "drstack:backups:BackupJobs";
const T = {
  fn: "aws:lambda/function:Function",
  schedule: "aws:scheduler/schedule:Schedule",
  role: "aws:iam/role:Role",
  policy: "aws:iam/rolePolicy:RolePolicy",
  attachment: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
  alarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
  topic: "aws:sns/topic:Topic",
  subscription: "aws:sns/topicSubscription:TopicSubscription",
};
const ACCOUNT = "123456789012";

function named(evaluation: Evaluation, type: string, name: string) {
  const found = resourcesOfType(evaluation, type).find((resource) => resource.name === name);
  if (!found) {
    throw new Error(`no ${type} named ${name} in ${evaluation.stack}; have ${resourcesOfType(evaluation, type).map((r) => r.name).join(", ")}`);
  }
  return found;
}

function policyOf(evaluation: Evaluation, name: string): ParsedStatement[] {
  return parsePolicy(named(evaluation, T.policy, name).inputs.policy);
}

describe.each(STACK_CASES)("backup jobs of stack $stack with activeSite=$activeSite", ({ stack, activeSite }) => {
  const run = () => evaluate(stack, { activeSite });
  const role = roleOf(stack, activeSite);
  const values = readStackConfig(stack).values;
  const region = values[`drstack:${stack}Region`];
  const peer = stack === "primary" ? "secondary" : "primary";
  const peerRegion = values[`drstack:${peer}Region`];
  const bucketArn = `arn:aws:s3:::acme-shop-dr-backups-${stack}-${region}`;
  const peerBucketArn = `arn:aws:s3:::acme-shop-dr-backups-${peer}-${peerRegion}`;
  const prefixes = (arn: string) => [`${arn}/db/shop/*`, `${arn}/financial/ledger/*`];
  const secretArn = `arn:aws:secretsmanager:${region}:${ACCOUNT}:secret:acme-shop-dr/${stack}/db-AbCdEf`;
  const topicArn = `arn:aws:sns:${region}:${ACCOUNT}:${stack}-alarms-topic-topic`;
  const fnArn = (name: string) => `arn:aws:lambda:${region}:${ACCOUNT}:function:${name}-fn`;

  test(`backup schedules are ${role === "active" ? "enabled" : "disabled"} on the ${role} site, one per database on its tier's expression`, async () => {
    const evaluation = await run();
    const expected = role === "active" ? "ENABLED" : "DISABLED";
    expect(backupsScheduled(role)).toBe(role === "active");
    const shop = named(evaluation, T.schedule, `${stack}-backup-jobs-backup-shop-schedule`).inputs;
    const ledger = named(evaluation, T.schedule, `${stack}-backup-jobs-backup-ledger-schedule`).inputs;
    expect([shop.state, ledger.state]).toEqual([expected, expected]);
    // Hourly: point-in-time recovery, not the dumps, holds the critical tier's 5-minute RPO (Pulumi.yaml's default).
    expect(shop.scheduleExpression).toBe("rate(1 hour)");
    // The example stacks back the standard tier up hourly, so that with RTC it meets its 2 h RPO.
    expect(ledger.scheduleExpression).toBe("rate(1 hour)");
    expect(values["drstack:tierStandardBackupSchedule"]).toBe("rate(1 hour)");
    expect(shop.target).toMatchObject({ arn: fnArn(`${stack}-backup-jobs-backup-shop`), input: JSON.stringify({ slot: "<aws.scheduler.scheduled-time>" }) });
  });

  test("verification is scheduled on both sites, so the standby checks what replicates to it", async () => {
    const schedule = named(await run(), T.schedule, `${stack}-backup-jobs-verify-schedule`).inputs;
    expect(schedule.state).toBe("ENABLED");
    expect(schedule.scheduleExpression).toBe("rate(15 minutes)");
    expect((schedule.target as { arn: string }).arn).toBe(fnArn(`${stack}-backup-jobs-verify`));
  });

  test("the backup function runs the pushed image by digest from this region, in the VPC, with the handler contract", async () => {
    const evaluation = await run();
    const fn = named(evaluation, T.fn, `${stack}-backup-jobs-backup-shop`).inputs;
    expect(fn.packageType).toBe("Image");
    expect(fn.imageUri).toMatch(new RegExp(`^${ACCOUNT}\\.dkr\\.ecr\\.${region}\\.amazonaws\\.com/acme-shop-dr/drstack-backup@sha256:[0-9a-f]{64}$`));
    expect(fn.imageConfig).toEqual({ commands: [BACKUP_HANDLER] });
    // In the data subnets with its own group, which the database admits (the reachability test follows every hop).
    expect(fn.vpcConfig).toEqual({
      subnetIds: evaluation.outputs.dataSubnetIds,
      securityGroupIds: [`${stack}-network-backup-functions-id`],
    });
    expect((fn.environment as { variables: Record<string, string> }).variables).toEqual({
      AWS_ENDPOINT_URL_SECRETS_MANAGER: expect.stringMatching(new RegExp(`^https://vpce-[0-9a-f]+-abcdefgh\\.secretsmanager\\.${region}\\.vpce\\.amazonaws\\.com$`)),
      AWS_ENDPOINT_URL_SSM: expect.stringMatching(new RegExp(`^https://vpce-[0-9a-f]+-abcdefgh\\.ssm\\.${region}\\.vpce\\.amazonaws\\.com$`)),
      AWS_ENDPOINT_URL_LAMBDA: expect.stringMatching(new RegExp(`^https://vpce-[0-9a-f]+-abcdefgh\\.lambda\\.${region}\\.vpce\\.amazonaws\\.com$`)),
      BACKUP_BUCKET: `acme-shop-dr-backups-${stack}-${region}`,
      DATABASE_URL: `postgres://${evaluation.outputs.databaseEndpoint}:5432/shop?sslmode=verify-full&sslrootcert=/opt/drstack/rds-global-bundle.pem`,
      DATABASE_SECRET_ARN: secretArn,
      BACKUP_NAME: "shop",
      BACKUP_TIER: "critical",
      BACKUP_DATA_CLASS: "db",
      SITE: stack,
      FENCING_CLAIM_PARAMETER: `/acme-shop-dr/${stack}/fencing/claim`,
      FENCE_MARKER_PARAMETER: `/acme-shop-dr/${stack}/fencing/fence`,
      GUARD_FUNCTION: `acme-shop-dr-${stack}-fencing-guard`,
    });
    expect(fn.role).toBe(`arn:aws:iam::${ACCOUNT}:role/${stack}-backup-jobs-backup-role`);
  });

  test("the verify function is a Node.js function from the built archive, not a serialised CallbackFunction", async () => {
    const fn = named(await run(), T.fn, `${stack}-backup-jobs-verify`).inputs;
    expect(fn.runtime).toBe("nodejs20.x");
    expect(fn.handler).toBe(VERIFY_HANDLER);
    const code = fn.code as Record<string, unknown>;
    expect(code.__pulumiArchive).toBe(true);
    expect(Object.keys(code)).toContain("path");
    expect(Object.keys(code)).not.toContain("assets");
    expect(fn.vpcConfig).toBeUndefined();
    expect((fn.environment as { variables: Record<string, string> }).variables).toEqual({
      BACKUP_BUCKET: `acme-shop-dr-backups-${stack}-${region}`,
      // Each with its maximum age: one schedule interval plus one 900 s run, or the tier's RPO if longer.
      BACKUP_TARGETS: "shop:critical:db:4500,ledger:standard:financial:7200",
      PEER_BUCKET: `acme-shop-dr-backups-${peer}-${peerRegion}`,
      PEER_REGION: peerRegion,
      METRIC_NAMESPACE: "drstack/backups",
      ALARM_TOPIC_ARN: topicArn,
      // financial/ is COMPLIANCE-locked by default: the verifier checks its dumps are.
      COMPLIANCE_CLASSES: "financial:2557",
      // Only this site's drill reports count in its drill age: the peer's replicate into the same bucket.
      DRILL_SITE: stack,
    });
  });

  test("no function is a CallbackFunction (their handler is the serialised __index.handler)", async () => {
    for (const fn of resourcesOfType(await run(), T.fn)) {
      expect(fn.inputs.handler).not.toBe("__index.handler");
    }
  });

  test("the backup role may write only its own site's keys under its databases' prefixes, use only this site's key, and read only the database secret and its site's claim", async () => {
    const evaluation = await run();
    const statements = policyOf(evaluation, `${stack}-backup-jobs-backup-permissions`);
    const dataKeyArn = `arn:aws:kms:${region}:${ACCOUNT}:key/${stack}-data-key-key-id`;
    const ownKeys = [`${bucketArn}/db/shop/latest-${stack}.json`, `${bucketArn}/db/shop/*-${stack}-*`, `${bucketArn}/financial/ledger/latest-${stack}.json`, `${bucketArn}/financial/ledger/*-${stack}-*`];
    const claim = `arn:aws:ssm:${region}:${ACCOUNT}:parameter/acme-shop-dr/${stack}/fencing/claim`;
    const marker = `arn:aws:ssm:${region}:${ACCOUNT}:parameter/acme-shop-dr/${stack}/fencing/fence`;
    const guard = `arn:aws:lambda:${region}:${ACCOUNT}:function:acme-shop-dr-${stack}-fencing-guard`;
    const allowed = new Set([bucketArn, ...prefixes(bucketArn), ...ownKeys, `arn:aws:kms:${region}:${ACCOUNT}:key/${stack}-backups-key-key-id`, secretArn, dataKeyArn, claim, marker, guard]);
    for (const statement of statements) {
      expect(statement.Effect).toBe("Allow");
      for (const action of asArray(statement.Action)) {
        expect(action).not.toContain("*");
      }
      for (const resource of asArray(statement.Resource)) {
        expect({ resource, allowed: allowed.has(resource) }).toEqual({ resource, allowed: true });
      }
    }
    const writes = statements.find((s) => asArray(s.Action).includes("s3:PutObject"));
    expect(asArray(writes?.Resource).sort()).toEqual(ownKeys.sort());
    // Each bucket replicates into the other: a site that could write the other's pointer or keys in its own
    // bucket would have them replicated over the other's. IAM's * matches any characters, "/" included.
    const matches = (pattern: string, arn: string) => new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`).test(arn);
    const writable = (key: string) => asArray(writes?.Resource).some((pattern) => matches(pattern, `${bucketArn}/${key}`));
    expect(writable(`db/shop/latest-${stack}.json`)).toBe(true);
    expect(writable(`db/shop/2026/11/23/20261123T010000Z-${stack}-0123456789ab.dump`)).toBe(true);
    expect(writable(`db/shop/latest-${peer}.json`)).toBe(false);
    expect(writable(`db/shop/2026/11/23/20261123T010000Z-${peer}-0123456789ab.dump`)).toBe(false);
    expect(writable(`db/shop/2026/11/23/20261123T010000Z-${peer}-0123456789ab.manifest.json`)).toBe(false);
    expect(writable("db/shop/latest.json")).toBe(false);
    expect(statements.find((s) => s.Action === "ssm:GetParameters")?.Resource).toEqual([claim, marker]);
    expect(statements.find((s) => s.Action === "lambda:InvokeFunction")?.Resource).toBe(guard);
    expect(statements.find((s) => asArray(s.Action).includes("secretsmanager:GetSecretValue"))?.Resource).toBe(secretArn);
    expect(statements.find((s) => asArray(s.Action).includes("kms:GenerateDataKey"))?.Condition).toEqual({
      StringEquals: { "kms:ViaService": `s3.${region}.amazonaws.com` },
    });
    // The secret is encrypted with the site's data key: GetSecretValue fails
    // without kms:Decrypt on it, which Secrets Manager requests with the
    // secret's ARN as encryption context (Secrets Manager User Guide, "Secret
    // encryption and decryption in AWS Secrets Manager").
    const secretKey = named(evaluation, "aws:secretsmanager/secret:Secret", `${stack}-database-credentials`).inputs.kmsKeyId;
    expect(secretKey).toBe(dataKeyArn);
    expect(statements.find((s) => s.Resource === dataKeyArn)).toEqual({
      Sid: "DecryptDatabaseCredentialsThroughSecretsManager",
      Effect: "Allow",
      Action: "kms:Decrypt",
      Resource: dataKeyArn,
      Condition: { StringEquals: { "kms:ViaService": `secretsmanager.${region}.amazonaws.com`, "kms:EncryptionContext:SecretARN": secretArn } },
    });
    const attachments = resourcesOfType(within(evaluation, BACKUPS), T.attachment);
    expect(attachments.map((a) => a.inputs.policyArn)).toEqual([VPC_EXECUTION_POLICY_ARN]);
  });

  test("the verify role reads both buckets' backup prefixes, writes nothing there, and publishes only in drstack's namespace", async () => {
    const statements = policyOf(await run(), `${stack}-backup-jobs-verify-permissions`);
    const logGroupArn = `arn:aws:logs:${region}:${ACCOUNT}:log-group:/drstack/${stack}-backup-jobs-verify-logs`;
    const allowed = new Set([
      bucketArn,
      peerBucketArn,
      ...prefixes(bucketArn),
      ...prefixes(peerBucketArn),
      `arn:aws:kms:${region}:${ACCOUNT}:key/${stack}-backups-key-key-id`,
      topicArn,
      `${logGroupArn}:*`,
    ]);
    for (const statement of statements) {
      expect(statement.Effect).toBe("Allow");
      for (const action of asArray(statement.Action)) {
        expect(action).not.toContain("*");
        expect(action).not.toMatch(/^s3:(Put|Delete)/);
      }
      for (const resource of asArray(statement.Resource)) {
        if (resource === "*") {
          // PutMetricData has no resource-level permission: its scope is the namespace condition.
          expect(statement.Action).toBe("cloudwatch:PutMetricData");
          expect(statement.Condition).toEqual({ StringEquals: { "cloudwatch:namespace": "drstack/backups" } });
        } else {
          expect({ resource, allowed: allowed.has(resource) }).toEqual({ resource, allowed: true });
        }
      }
    }
    expect(statements.find((s) => s.Action === "sns:Publish")?.Resource).toBe(topicArn);
    expect(asArray(statements.find((s) => s.Sid === "CheckPeerCopies")?.Resource).sort()).toEqual(prefixes(peerBucketArn).sort());
  });

  test("the scheduler may only invoke this site's backup and verify functions", async () => {
    const evaluation = await run();
    const [statement, ...rest] = policyOf(evaluation, `${stack}-backup-jobs-scheduler-permissions`);
    expect(rest).toEqual([]);
    expect(statement.Action).toBe("lambda:InvokeFunction");
    expect(asArray(statement.Resource).sort()).toEqual(
      [fnArn(`${stack}-backup-jobs-backup-shop`), fnArn(`${stack}-backup-jobs-backup-ledger`), fnArn(`${stack}-backup-jobs-verify`)].sort(),
    );
  });

  test("each role can be assumed only by its service for this account", async () => {
    const evaluation = await run();
    const services: Record<string, string> = { backup: "lambda.amazonaws.com", verify: "lambda.amazonaws.com", scheduler: "scheduler.amazonaws.com" };
    for (const [kind, service] of Object.entries(services)) {
      const [trust, ...rest] = parsePolicy(named(evaluation, T.role, `${stack}-backup-jobs-${kind}-role`).inputs.assumeRolePolicy);
      expect(rest).toEqual([]);
      expect(trust).toMatchObject({ Principal: { Service: service }, Action: "sts:AssumeRole", Condition: { StringEquals: { "aws:SourceAccount": ACCOUNT } } });
    }
  });

  test("alarms on errors, duration and backup age notify the site's topic, which mails the configured subscribers", async () => {
    const evaluation = await run();
    const alarms = resourcesOfType(within(evaluation, BACKUPS), T.alarm);
    expect(alarms.map((a) => a.name).sort()).toEqual(
      [
        ...["shop", "ledger"].flatMap((db) => ["errors", "duration", "age"].map((kind) => `${stack}-backup-jobs-backup-${db}-${kind}`)),
        `${stack}-backup-jobs-verify-errors`,
      ].sort(),
    );
    for (const alarm of alarms) {
      expect(alarm.inputs.alarmActions).toEqual([topicArn]);
      expect(alarm.inputs.okActions).toEqual([topicArn]);
    }
    const errors = named(evaluation, T.alarm, `${stack}-backup-jobs-backup-shop-errors`).inputs;
    expect(errors).toMatchObject({ namespace: "AWS/Lambda", metricName: "Errors", dimensions: { FunctionName: `${stack}-backup-jobs-backup-shop-fn` }, threshold: 1 });
    const duration = named(evaluation, T.alarm, `${stack}-backup-jobs-backup-shop-duration`).inputs;
    expect(duration).toMatchObject({ namespace: "AWS/Lambda", metricName: "Duration", statistic: "Maximum", threshold: 720000 });
    const age = named(evaluation, T.alarm, `${stack}-backup-jobs-backup-ledger-age`).inputs;
    expect(age).toMatchObject({
      namespace: "drstack/backups",
      metricName: "BackupAgeSeconds",
      dimensions: { Database: "ledger" },
      comparisonOperator: "GreaterThanThreshold",
      // The standard tier's 2 h RPO is longer than one hourly interval plus a run.
      threshold: 120 * 60,
      treatMissingData: "breaching",
    });
    const topic = single(evaluation, T.topic);
    expect(topic.provider).toContain(`::${stack}-aws::`);
    const subscriptions = resourcesOfType(evaluation, T.subscription).map((s) => s.inputs);
    expect(subscriptions).toEqual([
      { topic: topicArn, protocol: "email", endpoint: "oncall@shop.example.com" },
      { topic: topicArn, protocol: "email", endpoint: "dba@shop.example.com" },
    ]);
  });
});

describe("backup function network and build", () => {
  test("the functions' security group lets them out only to PostgreSQL and HTTPS inside the data subnets, and to S3's prefix list", async () => {
    const evaluation = await evaluate("secondary");
    const group = named(evaluation, "aws:ec2/securityGroup:SecurityGroup", "secondary-network-backup-functions").inputs;
    expect(group.vpcId).toBe(evaluation.outputs.vpcId);
    const data = ["10.20.240.0/24", "10.20.241.0/24"];
    expect(group.egress).toEqual([
      expect.objectContaining({ protocol: "tcp", fromPort: 5432, toPort: 5432, cidrBlocks: data }),
      expect.objectContaining({ protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: data }),
      expect.objectContaining({ protocol: "tcp", fromPort: 443, toPort: 443, prefixListIds: ["pl-s3mock"] }),
    ]);
    expect(group.ingress).toBeUndefined();
    expect(evaluation.outputs.backupSecurityGroupId).toBe("secondary-network-backup-functions-id");
  });
});

describe("backup jobs follow config", () => {
  test("no email subscriptions when alarmEmails is empty; the topic and alarms stay", async () => {
    const evaluation = await evaluate("primary", { alarmEmails: "[]" });
    expect(resourcesOfType(evaluation, T.subscription)).toEqual([]);
    expect(resourcesOfType(evaluation, T.topic)).toHaveLength(1);
  });

  test("a tier's schedule and RPO reach the schedule and the age alarm", async () => {
    const evaluation = await evaluate("primary", { tierStandardBackupSchedule: "cron(0 */1 * * ? *)", tierStandardRpoMinutes: "90" });
    expect(named(evaluation, T.schedule, "primary-backup-jobs-backup-ledger-schedule").inputs.scheduleExpression).toBe("cron(0 */1 * * ? *)");
    expect(named(evaluation, T.alarm, "primary-backup-jobs-backup-ledger-age").inputs.threshold).toBe(90 * 60);
  });
});
