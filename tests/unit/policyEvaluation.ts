import { asArray, ParsedStatement } from "./evaluations";

/**
 * A small evaluator of the IAM policy grammar drstack writes, so tests can ask
 * "does this policy allow or deny this request?" instead of matching JSON.
 * It follows the IAM User Guide ("IAM JSON policy elements: Condition
 * operators", "Policy evaluation logic"):
 * - within one operator, a single-valued key matches when any listed value
 *   matches; negated operators (StringNotEquals, ArnNotEquals) match when
 *   none does;
 * - a key absent from the request makes a positive operator false and a
 *   negated one true; `Null` tests presence (`"true"`: absent);
 * - `ForAnyValue:` matches when any of the request's values matches any
 *   listed value, and is false when the key is absent;
 * - every operator of a statement, and every key of an operator, must hold;
 * - an explicit Deny wins over any Allow; no matching Allow is an implicit deny.
 * Any other operator throws, so a policy cannot pass by using one this
 * evaluator does not know.
 */

export interface PolicyRequest {
  /** The calling principal's ARN (what `aws:PrincipalArn` holds: the role, not the session). */
  principal: string;
  action: string;
  resource: string;
  /** Condition keys S3 or KMS put in the request context, e.g. `kms:EncryptionContext:aws:s3:arn`. */
  context?: Record<string, string | string[]>;
}

export type Decision = "allow" | "explicit-deny" | "implicit-deny";

/** IAM's wildcard matching for actions, resources and the *Like operators: `*` any run, `?` one character. */
export function wildcardMatch(pattern: string, value: string, caseInsensitive = false): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${source}$`, caseInsensitive ? "i" : "").test(value);
}

type Matcher = (policyValue: string, requestValue: string) => boolean;

const POSITIVE: Record<string, Matcher> = {
  StringEquals: (p, r) => p === r,
  StringLike: (p, r) => wildcardMatch(p, r),
  ArnEquals: (p, r) => wildcardMatch(p, r),
  ArnLike: (p, r) => wildcardMatch(p, r),
  Bool: (p, r) => p.toLowerCase() === r.toLowerCase(),
  NumericLessThan: (p, r) => Number(r) < Number(p),
};

const NEGATED: Record<string, string> = {
  StringNotEquals: "StringEquals",
  StringNotLike: "StringLike",
  ArnNotEquals: "ArnEquals",
  ArnNotLike: "ArnLike",
};

function conditionHolds(operator: string, key: string, policyValues: string[], context: Record<string, string | string[]>): boolean {
  const present = key in context;
  const requestValues = present ? asArray(context[key]) : [];
  if (operator === "Null") {
    const [expectAbsent] = policyValues;
    return (expectAbsent === "true") === !present;
  }
  if (operator.startsWith("ForAnyValue:")) {
    const matcher = POSITIVE[operator.slice("ForAnyValue:".length)];
    if (!matcher) throw new Error(`the test evaluator does not know condition operator ${operator}`);
    return requestValues.some((r) => policyValues.some((p) => matcher(p, r)));
  }
  if (operator in NEGATED) {
    if (!present) return true;
    const matcher = POSITIVE[NEGATED[operator]];
    return !requestValues.some((r) => policyValues.some((p) => matcher(p, r)));
  }
  const matcher = POSITIVE[operator];
  if (!matcher) throw new Error(`the test evaluator does not know condition operator ${operator}`);
  if (!present) return false;
  return requestValues.some((r) => policyValues.some((p) => matcher(p, r)));
}

function principalMatches(principal: unknown, caller: string): boolean {
  if (principal === undefined) {
    // Identity policies have no Principal: they apply to the identity they are attached to.
    return true;
  }
  if (principal === "*") return true;
  // A service principal (events.amazonaws.com) is the caller when the request names that service.
  const service = (principal as { Service?: string | string[] }).Service;
  if (service !== undefined && asArray(service).includes(caller)) return true;
  const aws = (principal as { AWS?: string | string[] }).AWS;
  if (aws === undefined) return false;
  return asArray(aws).some((arn) => {
    if (arn === "*") return true;
    // An account's root ARN in a resource policy stands for the account: its IAM policies decide (KMS's and S3's delegation).
    const account = /^arn:aws[\w-]*:iam::(\d{12}):root$/.exec(arn)?.[1];
    if (account) return caller.split(":")[4] === account;
    return arn === caller;
  });
}

export function statementApplies(statement: ParsedStatement, request: PolicyRequest): boolean {
  if (!principalMatches(statement.Principal, request.principal)) return false;
  if (!asArray(statement.Action).some((action) => wildcardMatch(action, request.action, true))) return false;
  if (statement.Resource !== undefined && !asArray(statement.Resource).some((resource) => wildcardMatch(resource, request.resource))) return false;
  const context = { "aws:PrincipalArn": request.principal, ...request.context };
  return Object.entries(statement.Condition ?? {}).every(([operator, keys]) =>
    Object.entries(keys).every(([key, values]) => conditionHolds(operator, key, asArray(values).map(String), context)),
  );
}

export function decide(statements: ParsedStatement[], request: PolicyRequest): Decision {
  const applying = statements.filter((statement) => statementApplies(statement, request));
  if (applying.some((statement) => statement.Effect === "Deny")) return "explicit-deny";
  return applying.some((statement) => statement.Effect === "Allow") ? "allow" : "implicit-deny";
}

/** The Sids of the statements that deny the request, for messages that say why. */
export function denyingStatements(statements: ParsedStatement[], request: PolicyRequest): string[] {
  return statements.filter((s) => s.Effect === "Deny" && statementApplies(s, request)).map((s) => s.Sid ?? "(no Sid)");
}
