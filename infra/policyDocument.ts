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
