import * as pulumi from "@pulumi/pulumi";

/** The subset of the IAM policy grammar drstack writes, typed so a typo fails to compile. */
export interface PolicyStatement {
  Sid: string;
  Effect: "Allow" | "Deny";
  Principal?: { AWS: pulumi.Input<string> } | { Service: string } | "*";
  Action: string | string[];
  /** Absent only in trust policies, where IAM forbids it. */
  Resource?: pulumi.Input<string> | pulumi.Input<string>[];
  Condition?: Record<string, Record<string, pulumi.Input<string> | pulumi.Input<string>[]>>;
}

export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: PolicyStatement[];
}

/**
 * A trust policy that lets one AWS service assume a role: given an account,
 * only on that account's behalf, and given a source ARN, only for that
 * resource, so no other account or resource can borrow the role (no confused
 * deputy).
 */
export function serviceTrustPolicy(
  service: string,
  scope: { accountId?: pulumi.Input<string>; sourceArn?: pulumi.Input<string> } = {},
): PolicyDocument {
  const condition: NonNullable<PolicyStatement["Condition"]> = {};
  if (scope.accountId !== undefined) {
    condition.StringEquals = { "aws:SourceAccount": scope.accountId };
  }
  if (scope.sourceArn !== undefined) {
    condition.ArnLike = { "aws:SourceArn": scope.sourceArn };
  }
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "AssumedByService",
        Effect: "Allow",
        Principal: { Service: service },
        Action: "sts:AssumeRole",
        ...(Object.keys(condition).length > 0 ? { Condition: condition } : {}),
      },
    ],
  };
}
