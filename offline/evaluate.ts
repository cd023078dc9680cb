import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { PROJECT_NAME } from "../infra/configSchema";
import { BACKUP_IMAGE_CONTRACT, backupImageContractSuffix } from "../infra/backupContract";
import { DatabaseEngine, isDatabaseEngine } from "../infra/engines";
import { peerOverrides, readStackConfig, StackConfig } from "./stackFiles";

/**
 * Evaluates the real drstack program for one stack with Pulumi's mock runtime:
 * no engine, no cloud account, no provider plugin. Every resource the program
 * declares is recorded with its inputs and the options a reviewer cares about
 * (protect, parent). The tests and the offline plan both stand on this.
 */

export const MOCK_ACCOUNT_ID = "123456789012";
/** The organization a DIY state backend reports; stack references are named `<org>/<project>/<stack>`. */
export const MOCK_ORGANIZATION = "organization";

export interface RecordedResource {
  type: string;
  name: string;
  /** Inputs as the provider would receive them (Outputs resolved). */
  inputs: Record<string, unknown>;
  /** The mock provider's answer: inputs plus computed attributes (ids, ARNs, DNS names). */
  state?: Record<string, unknown>;
  /** True for provider-managed resources, false for components. */
  custom: boolean;
  protect: boolean;
  /** Whether the engine would drop it from state instead of deleting it. */
  retainOnDelete?: boolean;
  /** `type::name` of the parent, when there is one below the stack. */
  parent?: string;
  /** `type::name` of the resources given in its `dependsOn` option. */
  dependsOn?: string[];
  /** Its `ignoreChanges` option: inputs the engine takes from state, not from the program, once it exists. */
  ignoreChanges?: string[];
  /** Its `deleteBeforeReplace` option: a replacement deletes the old one before creating the new (a fixed name or host port). */
  deleteBeforeReplace?: boolean;
  provider?: string;
}

/** How the mocks answer a StackReference: with outputs, or as if the peer's region and state were gone. */
export type StackReferenceBehaviour =
  | {
      kind: "available";
      outputs: Record<string, Record<string, unknown>>;
      /** Per stack, the outputs its state keeps as secrets (a reference reads them back as secret Outputs). */
      secretOutputNames?: Record<string, string[]>;
    }
  | { kind: "unreachable" };

export interface EvaluateOptions {
  stack: string;
  /** `key=value` overrides on top of the stack file, like `pulumi config set` would make. */
  overrides?: Readonly<Record<string, string>>;
  stackReferences?: StackReferenceBehaviour;
  /**
   * Secrets Manager secrets that exist in the stack's region, by name, with
   * their current secret string: what earlier `up`s left there. None by
   * default; `secretsWritten()` gives what an evaluated `up` leaves.
   */
  deployedSecrets?: Readonly<Record<string, string>>;
  /** Evaluate a stack config assembled elsewhere instead of reading the stack file. */
  stackConfig?: StackConfig;
  /** Where the stack file is, when not beside Pulumi.yaml (e.g. examples/cheap). */
  stackDir?: string;
  /** What exists in the site's region beyond what the program declares; by default, everything it looks up. */
  world?: OfflineWorld;
}

/** The deployed world the lookups answer from. */
export interface OfflineWorld {
  /** Image digests that were never pushed to the site's region: their lookup fails, as ECR's would. */
  absentImageDigests?: string[];
  /** Backup image digests pushed by an older drstack: their tags lack BACKUP_IMAGE_CONTRACT's suffix. */
  staleBackupImageDigests?: string[];
  /** The engine the backup image was built for (its tag's suffix); by default the one the stack configures. */
  backupImageEngine?: string;
  /**
   * The engine the site's instances run. By default the one the stack
   * configures, so a lookup for instances of any other engine finds none.
   */
  deployedDatabaseEngine?: string;
}

/** One provider function the program called, and through which provider. */
export interface RecordedInvoke {
  token: string;
  inputs: Record<string, unknown>;
  /** The provider reference (`urn::id`), when the program passed one. */
  provider?: string;
}

export interface Evaluation {
  stack: string;
  config: Record<string, string>;
  resources: RecordedResource[];
  outputs: Record<string, unknown>;
  /** Stack outputs the program marked secret; the state backend encrypts them. */
  secretOutputs: string[];
  /** Names of the stacks the program asked a StackReference for. */
  stackReferencesRead: string[];
  /** Tokens of the provider functions the program invoked. */
  invokes: string[];
  /** The same invokes with their inputs and providers. */
  invokeCalls: RecordedInvoke[];
  warnings: string[];
}

const STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference";

/** The program failed; `resources` shows what had been declared before it did (for config errors: nothing). */
export class EvaluationError extends Error {
  constructor(
    readonly cause: unknown,
    readonly resources: RecordedResource[],
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = "EvaluationError";
  }
}

interface RuntimeSettings {
  waitForRPCs(): Promise<void>;
}

// waitForRPCs is exported but marked internal; it is how the language host
// itself knows every registration has finished.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const settings = require("@pulumi/pulumi/runtime/settings") as RuntimeSettings;

/** Synthesises the attributes a provider would compute, so ARNs and IDs flow like in a real deployment. */
function computedState(type: string, name: string, inputs: Record<string, unknown>, region: string): Record<string, unknown> {
  const state: Record<string, unknown> = { ...inputs };
  switch (type) {
    case "aws:s3/bucket:Bucket": {
      const bucket = (inputs.bucket as string | undefined) ?? name;
      state.bucket = bucket;
      state.arn = `arn:aws:s3:::${bucket}`;
      state.region = region;
      break;
    }
    case "aws:kms/key:Key":
      state.keyId = `${name}-key-id`;
      state.arn = `arn:aws:kms:${region}:${MOCK_ACCOUNT_ID}:key/${name}-key-id`;
      break;
    case "aws:iam/role:Role":
      state.name = (inputs.name as string | undefined) ?? name;
      state.arn = `arn:aws:iam::${MOCK_ACCOUNT_ID}:role/${state.name}`;
      break;
    case "aws:rds/instance:Instance": {
      const identifier = (inputs.identifier as string | undefined) ?? name;
      state.identifier = identifier;
      state.arn = `arn:aws:rds:${region}:${MOCK_ACCOUNT_ID}:db:${identifier}`;
      state.address = `${identifier}.mock.${region}.rds.amazonaws.com`;
      state.endpoint = `${state.address}:5432`;
      break;
    }
    case "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication":
      // The provider's id is the replicated backups' ARN in the destination region (its import example).
      state.id = `arn:aws:rds:${region}:${MOCK_ACCOUNT_ID}:auto-backup:ab-${name}`;
      break;
    case "aws:elasticache/replicationGroup:ReplicationGroup":
      state.primaryEndpointAddress = `master.${String(inputs.replicationGroupId ?? name)}.mock.${region}.cache.amazonaws.com`;
      state.arn = `arn:aws:elasticache:${region}:${MOCK_ACCOUNT_ID}:replicationgroup:${String(inputs.replicationGroupId ?? name)}`;
      break;
    case "aws:ecr/repository:Repository": {
      const repository = (inputs.name as string | undefined) ?? name;
      state.name = repository;
      state.registryId = MOCK_ACCOUNT_ID;
      state.repositoryUrl = `${MOCK_ACCOUNT_ID}.dkr.ecr.${region}.amazonaws.com/${repository}`;
      state.arn = `arn:aws:ecr:${region}:${MOCK_ACCOUNT_ID}:repository/${repository}`;
      break;
    }
    case "aws:acm/certificate:Certificate": {
      state.arn = `arn:aws:acm:${region}:${MOCK_ACCOUNT_ID}:certificate/${name}`;
      const names = [String(inputs.domainName), ...((inputs.subjectAlternativeNames as string[] | undefined) ?? [])];
      state.domainValidationOptions = names.map((domain) => ({ domainName: domain, ...acmValidationRecord(domain) }));
      break;
    }
    case "aws:acm/certificateValidation:CertificateValidation":
      state.certificateArn = inputs.certificateArn;
      break;
    case "aws:route53/record:Record":
      state.fqdn = String(inputs.name).replace(/\.$/, "");
      break;
    case "aws:secretsmanager/secret:Secret":
      // Secrets Manager appends six random characters to every secret ARN.
      state.arn = `arn:aws:secretsmanager:${region}:${MOCK_ACCOUNT_ID}:secret:${String(inputs.name ?? name)}-AbCdEf`;
      break;
    case "aws:sns/topic:Topic":
      state.name = (inputs.name as string | undefined) ?? `${name}-topic`;
      state.arn = `arn:aws:sns:${region}:${MOCK_ACCOUNT_ID}:${state.name}`;
      break;
    case "aws:lambda/function:Function":
      state.name = (inputs.name as string | undefined) ?? `${name}-fn`;
      state.arn = `arn:aws:lambda:${region}:${MOCK_ACCOUNT_ID}:function:${state.name}`;
      break;
    case "aws:ec2/vpcEndpoint:VpcEndpoint": {
      // Gateway endpoints publish the service's prefix list; interface
      // endpoints their DNS names, regional first, as EC2 reports them.
      const id = `vpce-${name.length.toString(16).padStart(4, "0")}${"0".repeat(13)}`;
      const service = String(inputs.serviceName ?? "").split(".").pop();
      state.id = id;
      if (inputs.vpcEndpointType === "Gateway") {
        state.prefixListId = `pl-${service}mock`;
      } else {
        state.dnsEntries = [{ dnsName: `${id}-abcdefgh.${service}.${region}.vpce.amazonaws.com`, hostedZoneId: "ZMOCKVPCE" }];
      }
      state.arn = `arn:aws:ec2:${region}:${MOCK_ACCOUNT_ID}:vpc-endpoint/${id}`;
      break;
    }
    case "aws:ssm/parameter:Parameter": {
      // A name that starts with "/" gets no second slash in the ARN.
      const parameter = String(inputs.name ?? name);
      state.arn = `arn:aws:ssm:${region}:${MOCK_ACCOUNT_ID}:parameter/${parameter.replace(/^\//, "")}`;
      state.value = inputs.insecureValue ?? inputs.value;
      state.version = 1;
      break;
    }
    case "aws:scheduler/schedule:Schedule": {
      // Without a name the provider generates one (terraform-<unique id>) in the default group.
      state.name = (inputs.name as string | undefined) ?? `terraform-${name}`;
      state.groupName = (inputs.groupName as string | undefined) ?? "default";
      state.arn = `arn:aws:scheduler:${region}:${MOCK_ACCOUNT_ID}:schedule/${String(state.groupName)}/${String(state.name)}`;
      break;
    }
    case "kubernetes:core/v1:Service": {
      // The provider reports a LoadBalancer Service only once its address is
      // allocated (@pulumi/kubernetes, Service: "External IP address is
      // allocated"); the AWS Load Balancer Controller publishes the NLB's DNS name.
      const spec = inputs.spec as { type?: string } | undefined;
      const metadata = inputs.metadata as { name?: string; namespace?: string } | undefined;
      if (spec?.type === "LoadBalancer") {
        const hostname = `k8s-${metadata?.namespace ?? "default"}-${metadata?.name ?? name}-mock.elb.${region}.amazonaws.com`;
        state.status = { loadBalancer: { ingress: [{ hostname }] } };
      }
      break;
    }
    case "aws:ecs/cluster:Cluster":
      state.name = (inputs.name as string | undefined) ?? `${name}-mock`;
      state.arn = `arn:aws:ecs:${region}:${MOCK_ACCOUNT_ID}:cluster/${state.name}`;
      break;
    case "aws:ecs/taskDefinition:TaskDefinition":
      // Each registration is a new revision of the family; the first is 1.
      state.revision = 1;
      state.arnWithoutRevision = `arn:aws:ecs:${region}:${MOCK_ACCOUNT_ID}:task-definition/${String(inputs.family)}`;
      state.arn = `${state.arnWithoutRevision}:1`;
      break;
    case "aws:cloudwatch/eventRule:EventRule":
      state.name = (inputs.name as string | undefined) ?? `${name}-mock`;
      state.arn = `arn:aws:events:${region}:${MOCK_ACCOUNT_ID}:rule/${state.name}`;
      break;
    case "aws:scheduler/scheduleGroup:ScheduleGroup":
      state.name = (inputs.name as string | undefined) ?? `${name}-mock`;
      state.arn = `arn:aws:scheduler:${region}:${MOCK_ACCOUNT_ID}:schedule-group/${state.name}`;
      break;
    case "docker:index/remoteImage:RemoteImage":
      // The engine reports the pulled image's ID; offline the pinned reference stands in, so a container shows what it runs.
      state.imageId = inputs.name;
      break;
    case "aws:cloudwatch/logGroup:LogGroup":
      state.name = (inputs.name as string | undefined) ?? `/drstack/${name}`;
      state.arn = `arn:aws:logs:${region}:${MOCK_ACCOUNT_ID}:log-group:${state.name}`;
      break;
    default:
      if (type.startsWith("random:")) {
        // Random values are secrets computed by the provider; a fixed stand-in keeps evaluations reproducible.
        state.result = `offline-random-${name}`;
      }
      if (state.arn === undefined) {
        state.arn = `arn:aws:mock:${region}:${MOCK_ACCOUNT_ID}:${type}/${name}`;
      }
  }
  return state;
}

/** The ARN Secrets Manager gives a secret of this name (computedState's rule). */
function secretArn(region: string, name: string): string {
  return `arn:aws:secretsmanager:${region}:${MOCK_ACCOUNT_ID}:secret:${name}-AbCdEf`;
}

/**
 * ACM's DNS validation record of a domain: one per domain name and account,
 * the same in every region (https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html),
 * so it is derived from the domain alone here.
 */
export function acmValidationRecord(domain: string): { resourceRecordName: string; resourceRecordType: string; resourceRecordValue: string } {
  const token = createHash("sha256").update(`${MOCK_ACCOUNT_ID}/${domain}`).digest("hex");
  return {
    resourceRecordName: `_${token.slice(0, 32)}.${domain}.`,
    resourceRecordType: "CNAME",
    resourceRecordValue: `_${token.slice(32)}.mock.acm-validations.aws.`,
  };
}

/** The tag suffix of the backup image in the offline world: stale images carry the previous contract's. */
function backupImageTagSuffix(world: OfflineWorld, digest: string): string {
  const engine = isDatabaseEngine(world.backupImageEngine ?? "") ? (world.backupImageEngine as DatabaseEngine) : "postgres";
  return (world.staleBackupImageDigests ?? []).includes(digest) ? backupImageContractSuffix(engine, BACKUP_IMAGE_CONTRACT - 1) : backupImageContractSuffix(engine);
}

/**
 * Lookups the program makes in its own region, answered with what a deployed
 * site would hold. A lookup with no answer here fails the evaluation.
 */
function invokeAnswer(
  token: string,
  inputs: Record<string, unknown>,
  region: string,
  world: OfflineWorld,
  deployedSecrets: Readonly<Record<string, string>>,
): Record<string, unknown> | undefined {
  switch (token) {
    case "aws:secretsmanager/getSecrets:getSecrets": {
      // ListSecrets' `name` filter is a case-insensitive prefix match.
      const filters = (inputs.filters as Array<{ name: string; values: string[] }> | undefined) ?? [];
      const prefixes = filters.find((filter) => filter.name === "name")?.values ?? [""];
      const names = Object.keys(deployedSecrets).filter((name) => prefixes.some((prefix) => name.toLowerCase().startsWith(prefix.toLowerCase())));
      return { id: region, region, filters: inputs.filters, names, arns: names.map((name) => secretArn(region, name)) };
    }
    case "aws:secretsmanager/getSecretVersion:getSecretVersion": {
      const secretId = String(inputs.secretId);
      const name = Object.keys(deployedSecrets).find((candidate) => candidate === secretId || secretArn(region, candidate) === secretId);
      if (name === undefined) {
        throw new Error(`ResourceNotFoundException: Secrets Manager can't find the specified secret ${secretId} in ${region}`);
      }
      return {
        id: `${secretArn(region, name)}|AWSCURRENT`,
        arn: secretArn(region, name),
        secretArn: secretArn(region, name),
        secretId,
        secretString: deployedSecrets[name],
        secretBinary: "",
        versionId: "offline-version",
        versionStage: "AWSCURRENT",
        versionStages: ["AWSCURRENT"],
        createdDate: "2026-01-01T00:00:00Z",
        region,
      };
    }
    case "aws:index/getCallerIdentity:getCallerIdentity":
      return { accountId: MOCK_ACCOUNT_ID, arn: `arn:aws:iam::${MOCK_ACCOUNT_ID}:user/offline`, userId: "offline", id: MOCK_ACCOUNT_ID };
    case "aws:index/getAvailabilityZones:getAvailabilityZones": {
      // Three zones, like most regions; the state filter is echoed back.
      const names = ["a", "b", "c"].map((letter) => `${region}${letter}`);
      return { id: region, names, zoneIds: names.map((_, index) => `${region.replace(/-/g, "")}-az${index + 1}`), state: inputs.state, groupNames: [region] };
    }
    case "aws:rds/getInstances:getInstances": {
      // The offline plan models a deployed world: an instance asked for by
      // identifier exists (the program asks only for ones an earlier up built).
      const filters = (inputs.filters as Array<{ name: string; values: string[] }> | undefined) ?? [];
      const engines = filters.find((filter) => filter.name === "engine")?.values;
      const identifiers =
        engines === undefined || (world.deployedDatabaseEngine !== undefined && engines.includes(world.deployedDatabaseEngine))
          ? (filters.find((filter) => filter.name === "db-instance-id")?.values ?? [])
          : [];
      return { id: region, instanceIdentifiers: identifiers, instanceArns: identifiers.map((id) => `arn:aws:rds:${region}:${MOCK_ACCOUNT_ID}:db:${id}`) };
    }
    case "aws:ecr/getImage:getImage": {
      // Every image the stack names was pushed to its region, unless the world says otherwise.
      const repository = String(inputs.repositoryName);
      const digest = String(inputs.imageDigest);
      if ((world.absentImageDigests ?? []).includes(digest)) {
        const message = `reading ECR Images: ImageNotFoundException: The image with imageId {imageDigest:'${digest}'} does not exist within the repository with name '${repository}' in the registry with id '${MOCK_ACCOUNT_ID}'`;
        // A provider's failure reaches the program as a gRPC status whose details carry the message.
        throw Object.assign(new Error(message), { details: message });
      }
      const repositoryUrl = `${MOCK_ACCOUNT_ID}.dkr.ecr.${region}.amazonaws.com/${repository}`;
      return {
        id: digest,
        imageDigest: digest,
        imageUri: `${repositoryUrl}@${digest}`,
        // The backup image is published as <commit>-contract<N>-<engine> (scripts/publish-backup-image.sh).
        imageTags: repository.endsWith("/drstack-backup") ? [`0123456789ab${backupImageTagSuffix(world, digest)}`] : [],
        imagePushedAt: 1767225600,
        imageSizeInBytes: 123456789,
        registryId: MOCK_ACCOUNT_ID,
        repositoryName: repository,
        region,
      };
    }
    default:
      return undefined;
  }
}

export async function evaluateStack(options: EvaluateOptions): Promise<Evaluation> {
  const stackConfig = options.stackConfig ?? readStackConfig(options.stack, options.overrides, options.stackDir);
  const region = stackConfig.values["aws:region"] ?? "us-east-1";
  const stackReferences: StackReferenceBehaviour = options.stackReferences ?? { kind: "unreachable" };

  const recorded = new Map<string, RecordedResource>();
  const resourceOptions = new Map<string, { protect: boolean; retainOnDelete: boolean; parent?: string; dependsOn?: string[]; ignoreChanges?: string[]; deleteBeforeReplace?: boolean }>();
  const stackReferencesRead: string[] = [];
  const invokes: string[] = [];
  const invokeCalls: RecordedInvoke[] = [];
  const warnings: string[] = [];
  // Unless told otherwise, the backup image was built for the engine the stack configures.
  const world: OfflineWorld = { backupImageEngine: stackConfig.values[`${PROJECT_NAME}:databaseEngine`] ?? "postgres", ...options.world };

  await pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
        if (args.type === STACK_REFERENCE_TYPE) {
          const referenced = String(args.inputs.name ?? args.name);
          stackReferencesRead.push(referenced);
          if (stackReferences.kind === "unreachable") {
            throw new Error(`stack reference ${referenced} is unreachable (offline evaluation treats the peer as lost)`);
          }
          const outputs = stackReferences.outputs[referenced];
          if (outputs === undefined) {
            throw new Error(`stack ${referenced} does not exist yet`);
          }
          const secretOutputNames = stackReferences.secretOutputNames?.[referenced] ?? [];
          return { id: referenced, state: { name: referenced, outputs, secretOutputNames } };
        }
        const state = computedState(args.type, args.name, args.inputs as Record<string, unknown>, region);
        const id = typeof state.id === "string" ? state.id : `${args.name}-id`;
        recorded.set(`${args.type}::${args.name}`, {
          type: args.type,
          name: args.name,
          inputs: args.inputs as Record<string, unknown>,
          state: { ...state, id },
          custom: args.custom ?? true,
          protect: false,
          retainOnDelete: false,
          provider: args.provider,
        });
        return { id, state };
      },
      call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
        invokes.push(args.token);
        invokeCalls.push({ token: args.token, inputs: args.inputs as Record<string, unknown>, provider: args.provider });
        const answer = invokeAnswer(args.token, args.inputs as Record<string, unknown>, region, world, options.deployedSecrets ?? {});
        if (answer !== undefined) {
          return answer;
        }
        throw new Error(`offline evaluation has no answer for ${args.token}; add one to offline/evaluate.ts`);
      },
    },
    PROJECT_NAME,
    stackConfig.stack,
    false,
    MOCK_ORGANIZATION,
  );
  pulumi.runtime.setAllConfig(stackConfig.values, stackConfig.secretKeys);

  const originalWarn = console.warn;
  console.warn = (...messages: unknown[]) => {
    warnings.push(messages.map(String).join(" "));
  };
  // A program error surfaces both as the stack's rejected outputs and as
  // rejections of promises the SDK chains off them; collect those instead of
  // letting them crash the host process.
  const strayRejections: unknown[] = [];
  // Like the language host, stop at the first one: a resource whose inputs
  // failed to resolve never resolves its outputs, so waiting would hang.
  // (Under jest the sandboxed `process` hears none; jest reports them itself.)
  let stopAt: (reason: unknown) => void = () => undefined;
  const firstRejection = new Promise<never>((_, reject) => {
    stopAt = reject;
  });
  firstRejection.catch(() => undefined);
  const onRejection = (reason: unknown) => {
    strayRejections.push(reason);
    stopAt(reason);
  };
  process.on("unhandledRejection", onRejection);
  let outputs: Record<string, unknown>;
  let programError: { error: unknown } | undefined;
  const secretOutputs: string[] = [];
  let declared: object | undefined;
  try {
    // The program module is loaded only now, after the mocks are in place.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require("../infra") as typeof import("../infra");
    // Config is validated before the stack resource exists, as in a real run
    // where a config error stops the program before anything is declared.
    const config = program.loadSiteConfig();
    // Likewise the objectives check: it throws (or warns) before any resource.
    const posture = program.checkObjectives(config);
    const running = pulumi.runtime.runInPulumiStack(async () => {
      pulumi.runtime.registerStackTransformation((transform) => {
        const parent = transform.opts.parent;
        resourceOptions.set(`${transform.type}::${transform.name}`, {
          protect: transform.opts.protect === true,
          retainOnDelete: transform.opts.retainOnDelete === true,
          parent: parent && parent.constructor.name !== "Stack" ? resourceKey(parent) : undefined,
          dependsOn: explicitDependencies(transform.opts.dependsOn),
          ...(transform.opts.ignoreChanges ? { ignoreChanges: [...transform.opts.ignoreChanges] } : {}),
          ...((transform.opts as pulumi.CustomResourceOptions).deleteBeforeReplace ? { deleteBeforeReplace: true } : {}),
        });
        return undefined;
      });
      // A program that stops (a missing image, a missing bundle) rejects the
      // stack's init; the SDK then rejects promises derived from the stack
      // that nobody awaits. The engine's host reports those as the program's
      // error; here the error is kept and the stack completes empty instead.
      try {
        declared = await program.deployStack(config, posture);
        return declared;
      } catch (error) {
        programError = { error };
        return {};
      }
    });
    const result = await Promise.race([running, firstRejection]);
    await Promise.race([settings.waitForRPCs(), firstRejection]);
    await new Promise((resolve) => setImmediate(resolve));
    if (programError !== undefined) {
      throw programError.error;
    }
    if (strayRejections.length > 0) {
      throw strayRejections[0];
    }
    // Only once everything resolved: the secret flag of a failed Output never settles.
    for (const [name, value] of Object.entries(declared ?? {})) {
      if (pulumi.Output.isInstance(value) && (await pulumi.isSecret(value))) {
        secretOutputs.push(name);
      }
    }
    outputs = (result ?? {}) as Record<string, unknown>;
  } catch (error) {
    // Let what can still finish finish; resources waiting on a failed one
    // never do (the next setMocks starts a fresh RPC count). The SDK rejects
    // promises derived from the failed stack a turn later; they must still
    // find the handler above rather than crash the host process.
    await Promise.race([settings.waitForRPCs().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1000))]);
    await new Promise((resolve) => setImmediate(resolve));
    throw new EvaluationError(error, [...recorded.values()]);
  } finally {
    console.warn = originalWarn;
    process.off("unhandledRejection", onRejection);
  }

  const resources = [...recorded.values()].map((resource) => ({
    ...resource,
    ...resourceOptions.get(`${resource.type}::${resource.name}`),
    provider: resource.provider,
  }));
  return { stack: stackConfig.stack, config: stackConfig.values, resources, outputs, secretOutputs, stackReferencesRead, invokes, invokeCalls, warnings };
}

/** `dependsOn` given as resources (not Outputs) — the form drstack uses — by `type::name`. */
function explicitDependencies(dependsOn: unknown): string[] | undefined {
  const list = (Array.isArray(dependsOn) ? dependsOn : dependsOn === undefined ? [] : [dependsOn]).filter(
    (item): item is pulumi.Resource => pulumi.Resource.isInstance(item),
  );
  return list.length > 0 ? list.map(resourceKey) : undefined;
}

function resourceKey(parent: pulumi.Resource): string {
  // Resource keeps its type and name in fields the public typings do not expose.
  const internal = parent as unknown as { __pulumiType?: string; __name?: string };
  return `${internal.__pulumiType}::${internal.__name}`;
}

/** The primary stack as the secondary references it by default (`primaryStackName` empty). */
export const PRIMARY_STACK_NAME = `${MOCK_ORGANIZATION}/${PROJECT_NAME}/primary`;

/**
 * Evaluates a stack as it runs beside a deployed peer: the secondary's
 * reference to the primary (read only while the secondary is standby) answers
 * with the outputs of the primary evaluated under the same overrides, which is
 * what a deployed primary exports. If the primary does not evaluate, the
 * reference is unreachable.
 */
export async function evaluateBesidePeer(stack: string, overrides: Readonly<Record<string, string>> = {}, stackDir?: string): Promise<Evaluation> {
  if (stack !== "secondary") {
    return evaluateStack({ stack, overrides, stackDir });
  }
  let stackReferences: StackReferenceBehaviour = { kind: "unreachable" };
  try {
    stackReferences = primaryReference(await evaluateStack({ stack: "primary", overrides: peerOverrides(overrides), stackDir }));
  } catch {
    // The secondary is then evaluated as if the primary were lost.
  }
  const deployedSecrets =
    activeSiteOf("secondary", overrides, stackDir) === "secondary"
      ? await secretsOfStandbySecondary(overrides, (peer, standby) => evaluateBesidePeer(peer, standby, stackDir), stackDir)
      : {};
  return evaluateStack({ stack, overrides, stackReferences, deployedSecrets, stackDir });
}

/** A reference to the primary's stack answering with an evaluated primary's outputs, secrets marked as its state marks them. */
export function primaryReference(primary: Evaluation): StackReferenceBehaviour {
  return { kind: "available", outputs: { [PRIMARY_STACK_NAME]: primary.outputs }, secretOutputNames: { [PRIMARY_STACK_NAME]: primary.secretOutputs } };
}

/** `activeSite` as the stack file and the overrides set it. */
export function activeSiteOf(stack: string, overrides: Readonly<Record<string, string>>, stackDir?: string): string | undefined {
  return readStackConfig(stack, overrides, stackDir).values[`${PROJECT_NAME}:activeSite`];
}

/**
 * The secrets the secondary's region holds when it becomes active: what its
 * last `up` as standby (same config, activeSite=primary, beside a reachable
 * primary) wrote. None if that world does not evaluate.
 */
export async function secretsOfStandbySecondary(
  overrides: Readonly<Record<string, string>>,
  evaluate: (stack: string, overrides: Readonly<Record<string, string>>) => Promise<Evaluation>,
  stackDir?: string,
): Promise<Record<string, string>> {
  // Spelled as the stack file spells it when it can be, so a cached evaluation is reused.
  const { activeSite: _active, ...standby }: Record<string, string> = { ...overrides };
  if (activeSiteOf("secondary", standby, stackDir) !== "primary") {
    standby.activeSite = "primary";
  }
  try {
    return secretsWritten(await evaluate("secondary", standby));
  } catch {
    return {};
  }
}

/** Pulumi's marker of a secret value in serialized properties. */
const SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d";

function isSecretValue(value: unknown): value is { value: unknown } {
  return value !== null && typeof value === "object" && SECRET_SIGNATURE in value;
}

/** A value with Pulumi's secret wrappers removed, as a program sees it after `apply`. */
export function revealSecrets(value: unknown): unknown {
  if (isSecretValue(value)) {
    return revealSecrets(value.value);
  }
  if (Array.isArray(value)) {
    return value.map(revealSecrets);
  }
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, revealSecrets(item)]));
  }
  return value;
}

/**
 * The secrets an `up` of this evaluation leaves in its region: each declared
 * Secrets Manager secret's name with the string of its declared version.
 */
export function secretsWritten(evaluation: Pick<Evaluation, "resources">): Record<string, string> {
  const secretNames = new Map(
    evaluation.resources
      .filter((resource) => resource.type === "aws:secretsmanager/secret:Secret")
      .map((resource) => [`${resource.name}-id`, String(resource.inputs.name ?? resource.name)]),
  );
  const written: Record<string, string> = {};
  for (const version of evaluation.resources.filter((resource) => resource.type === "aws:secretsmanager/secretVersion:SecretVersion")) {
    const name = secretNames.get(String(version.inputs.secretId));
    const value = revealSecrets(version.inputs.secretString);
    if (name !== undefined && typeof value === "string") {
      written[name] = value;
    }
  }
  return written;
}
