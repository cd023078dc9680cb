import * as pulumi from "@pulumi/pulumi";
import { PROJECT_NAME } from "../infra/configSchema";
import { readStackConfig, StackConfig } from "./stackFiles";

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
  /** True for provider-managed resources, false for components. */
  custom: boolean;
  protect: boolean;
  /** `type::name` of the parent, when there is one below the stack. */
  parent?: string;
  /** `type::name` of the resources given in its `dependsOn` option. */
  dependsOn?: string[];
  provider?: string;
}

/** How the mocks answer a StackReference: with outputs, or as if the peer's region and state were gone. */
export type StackReferenceBehaviour = { kind: "available"; outputs: Record<string, Record<string, unknown>> } | { kind: "unreachable" };

export interface EvaluateOptions {
  stack: string;
  /** `key=value` overrides on top of the stack file, like `pulumi config set` would make. */
  overrides?: Readonly<Record<string, string>>;
  stackReferences?: StackReferenceBehaviour;
  /** Evaluate a stack config assembled elsewhere instead of reading the stack file. */
  stackConfig?: StackConfig;
}

export interface Evaluation {
  stack: string;
  config: Record<string, string>;
  resources: RecordedResource[];
  outputs: Record<string, unknown>;
  /** Names of the stacks the program asked a StackReference for. */
  stackReferencesRead: string[];
  /** Tokens of the provider functions the program invoked. */
  invokes: string[];
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
    case "docker:index/image:Image": {
      // The registry answers a push with the image's content digest.
      const imageName = String(inputs.imageName);
      state.repoDigest = `${imageName.replace(/:[^:/]+$/, "")}@sha256:${"0".repeat(56)}${name.length.toString(16).padStart(8, "0")}`;
      break;
    }
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

/**
 * Lookups the program makes in its own region, answered with what a deployed
 * site would hold. A lookup with no answer here fails the evaluation.
 */
function invokeAnswer(token: string, inputs: Record<string, unknown>, region: string): Record<string, unknown> | undefined {
  switch (token) {
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
      const identifiers = filters.find((filter) => filter.name === "db-instance-id")?.values ?? [];
      return { id: region, instanceIdentifiers: identifiers, instanceArns: identifiers.map((id) => `arn:aws:rds:${region}:${MOCK_ACCOUNT_ID}:db:${id}`) };
    }
    case "aws:ecr/getAuthorizationToken:getAuthorizationToken":
      return {
        id: region,
        authorizationToken: "QVdTOm9mZmxpbmU=",
        userName: "AWS",
        password: "offline",
        proxyEndpoint: `https://${MOCK_ACCOUNT_ID}.dkr.ecr.${region}.amazonaws.com`,
        expiresAt: "2099-01-01T00:00:00Z",
        registryId: inputs.registryId ?? MOCK_ACCOUNT_ID,
      };
    default:
      return undefined;
  }
}

export async function evaluateStack(options: EvaluateOptions): Promise<Evaluation> {
  const stackConfig = options.stackConfig ?? readStackConfig(options.stack, options.overrides);
  const region = stackConfig.values["aws:region"] ?? "us-east-1";
  const stackReferences: StackReferenceBehaviour = options.stackReferences ?? { kind: "unreachable" };

  const recorded = new Map<string, RecordedResource>();
  const resourceOptions = new Map<string, { protect: boolean; parent?: string; dependsOn?: string[] }>();
  const stackReferencesRead: string[] = [];
  const invokes: string[] = [];
  const warnings: string[] = [];

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
          return { id: referenced, state: { name: referenced, outputs, secretOutputNames: [] } };
        }
        recorded.set(`${args.type}::${args.name}`, {
          type: args.type,
          name: args.name,
          inputs: args.inputs as Record<string, unknown>,
          custom: args.custom ?? true,
          protect: false,
          provider: args.provider,
        });
        return { id: `${args.name}-id`, state: computedState(args.type, args.name, args.inputs as Record<string, unknown>, region) };
      },
      call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
        invokes.push(args.token);
        const answer = invokeAnswer(args.token, args.inputs as Record<string, unknown>, region);
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
  const onRejection = (reason: unknown) => strayRejections.push(reason);
  process.on("unhandledRejection", onRejection);
  let outputs: Record<string, unknown>;
  try {
    // The program module is loaded only now, after the mocks are in place.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require("../infra") as typeof import("../infra");
    // Config is validated before the stack resource exists, as in a real run
    // where a config error stops the program before anything is declared.
    const config = program.loadConfig();
    // Likewise the objectives check: it throws (or warns) before any resource.
    const posture = program.checkObjectives(config);
    const result = await pulumi.runtime.runInPulumiStack(async () => {
      pulumi.runtime.registerStackTransformation((transform) => {
        const parent = transform.opts.parent;
        resourceOptions.set(`${transform.type}::${transform.name}`, {
          protect: transform.opts.protect === true,
          parent: parent && parent.constructor.name !== "Stack" ? resourceKey(parent) : undefined,
          dependsOn: explicitDependencies(transform.opts.dependsOn),
        });
        return undefined;
      });
      return program.deploySite(config, posture);
    });
    await settings.waitForRPCs();
    await new Promise((resolve) => setImmediate(resolve));
    if (strayRejections.length > 0) {
      throw strayRejections[0];
    }
    outputs = (result ?? {}) as Record<string, unknown>;
  } catch (error) {
    await settings.waitForRPCs().catch(() => undefined);
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
  return { stack: stackConfig.stack, config: stackConfig.values, resources, outputs, stackReferencesRead, invokes, warnings };
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
export async function evaluateBesidePeer(stack: string, overrides: Readonly<Record<string, string>> = {}): Promise<Evaluation> {
  if (stack !== "secondary") {
    return evaluateStack({ stack, overrides });
  }
  let stackReferences: StackReferenceBehaviour = { kind: "unreachable" };
  try {
    const primary = await evaluateStack({ stack: "primary", overrides });
    stackReferences = { kind: "available", outputs: { [PRIMARY_STACK_NAME]: primary.outputs } };
  } catch {
    // The secondary is then evaluated as if the primary were lost.
  }
  return evaluateStack({ stack, overrides, stackReferences });
}
