/**
 * Reading and writing the fencing protocol's state in SSM Parameter Store,
 * and the backup job's writer check (its claim, its fence marker and a fresh
 * decision of its guard). The decisions themselves are in fencing.ts.
 */
import { GetParametersCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { errorMessage, NotWriterError, WriterCheckError } from "./errors";
import { backupGate, FenceMarker, GuardDecision, Lookup, parseFenceMarker, parseWriterClaim, WriterClaim } from "./fencing";
import type { WriterCheck } from "./backup";

/**
 * Bounded waits: a lost peer region must cost the guard seconds, not its whole
 * timeout. socketTimeout is what ends a request to an endpoint that accepted
 * the connection and went silent; this SDK's requestTimeout only logs a
 * warning unless throwOnRequestTimeout is set.
 */
export const CLIENT_TIMEOUTS = { requestHandler: { connectionTimeout: 3_000, requestTimeout: 5_000, socketTimeout: 5_000 }, maxAttempts: 2 } as const;

export function ssmClient(region: string, endpoint?: string): SSMClient {
  return new SSMClient({ region, endpoint, ...CLIENT_TIMEOUTS });
}

export interface FencingState {
  claim: Lookup<WriterClaim>;
  marker: Lookup<FenceMarker>;
}

/** One GetParameters call for a site's claim and fence marker; a missing parameter is a found nothing, not a failure. */
export async function readFencingState(ssm: SSMClient, claimName: string, markerName: string): Promise<FencingState> {
  let values: Map<string, string>;
  try {
    const res = await ssm.send(new GetParametersCommand({ Names: [claimName, markerName] }));
    values = new Map((res.Parameters ?? []).map((p) => [p.Name ?? "", p.Value ?? ""]));
  } catch (err) {
    const problem = `${errorName(err)}: ${errorMessage(err)}`;
    return { claim: { ok: false, problem }, marker: { ok: false, problem } };
  }
  return { claim: parsed(values.get(claimName), parseWriterClaim), marker: parsed(values.get(markerName), parseFenceMarker) };
}

function parsed<T>(text: string | undefined, parse: (text: string) => T): Lookup<T> {
  if (text === undefined) return { ok: true };
  try {
    return { ok: true, value: parse(text) };
  } catch (err) {
    return { ok: false, problem: errorMessage(err) };
  }
}

export async function writeFenceMarker(ssm: SSMClient, markerName: string, marker: FenceMarker): Promise<void> {
  await ssm.send(
    new PutParameterCommand({
      Name: markerName,
      Value: JSON.stringify(marker),
      Type: "String",
      Overwrite: true,
      Description: `drstack fence marker of ${marker.site}, written by its fencing guard; the site stays fenced until its claim's epoch exceeds ${marker.peerEpoch}`,
    }),
  );
}

export function errorName(err: unknown): string {
  const e = err as { name?: string; code?: string };
  return e?.name ?? e?.code ?? "Error";
}

/** What the guard returns to a synchronous caller. */
export interface GuardAnswer {
  decision: GuardDecision;
}

/** Invokes the guard synchronously (RequestResponse) and returns its decision, or why it could not. */
export async function askGuard(lambda: LambdaClient, functionName: string): Promise<{ ok: true; decision: GuardDecision } | { ok: false; problem: string }> {
  try {
    const res = await lambda.send(new InvokeCommand({ FunctionName: functionName, InvocationType: "RequestResponse", Payload: Buffer.from(JSON.stringify({ source: "backup" })) }));
    const text = res.Payload ? Buffer.from(res.Payload).toString("utf8") : "";
    if (res.FunctionError) return { ok: false, problem: `${functionName} failed (${res.FunctionError}): ${text.slice(0, 500)}` };
    const answer = JSON.parse(text) as Partial<GuardAnswer>;
    if (!answer.decision || typeof answer.decision.backupsMayRun !== "boolean") return { ok: false, problem: `${functionName} answered without a decision: ${text.slice(0, 200)}` };
    return { ok: true, decision: answer.decision };
  } catch (err) {
    return { ok: false, problem: `${errorName(err)}: ${errorMessage(err)}` };
  }
}

export interface ClaimWriterCheckOptions {
  region: string;
  claimParameter: string;
  fenceMarkerParameter: string;
  /** The site's guard; without one only the claim and marker are checked (a host that runs no guard). */
  guardFunction?: string;
  ssm?: SSMClient;
  lambda?: LambdaClient;
  log?: (message: string) => void;
}

/**
 * The backup job's writer check on a site that has a claim: the identity
 * (site, epoch) comes from the claim, and a refusal or a failed check stops
 * the backup before anything is written.
 */
export function claimWriterCheck(opts: ClaimWriterCheckOptions): WriterCheck {
  const ssm = opts.ssm ?? ssmClient(opts.region);
  // The guard reaches the peer region; give it time for that, within a backup's budget.
  const lambda = opts.guardFunction ? (opts.lambda ?? new LambdaClient({ region: opts.region, maxAttempts: 2, requestHandler: { connectionTimeout: 3_000, requestTimeout: 60_000, socketTimeout: 60_000 } })) : undefined;
  return async () => {
    const state = await readFencingState(ssm, opts.claimParameter, opts.fenceMarkerParameter);
    const guard = lambda && opts.guardFunction ? await askGuard(lambda, opts.guardFunction) : undefined;
    if (guard?.ok && guard.decision.peerUnreachable && guard.decision.backupsMayRun) {
      opts.log?.(`fencing guard: ${guard.decision.reasons.join("; ")}`);
    }
    const gate = backupGate({ ...state, guard });
    if (gate.ok) return { site: gate.site, epoch: gate.epoch };
    if (gate.refused) throw new NotWriterError(gate.reason);
    throw new WriterCheckError(`cannot confirm that this site is the writer, so it backs up nothing: ${gate.reason}`);
  };
}
