import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { PolicyDocument } from "./policyDocument";
import { SiteName } from "./roles";

export interface SiteAlarmsArgs {
  site: SiteName;
  accountId: pulumi.Input<string>;
  /** Addresses subscribed to the topic; each must confirm AWS's subscription email. */
  emails: string[];
}

/**
 * The site's one alarm topic. Every alarm drstack declares in a site (backups,
 * replica lag, replication, health checks, fencing) notifies it, so on-call
 * subscribes once per site. It lives in the site's own region: the survivor
 * keeps alarming with the other region gone.
 */
export class SiteAlarms extends pulumi.ComponentResource {
  public readonly topicArn: pulumi.Output<string>;

  constructor(name: string, args: SiteAlarmsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:alarms:SiteAlarms", name, {}, opts);
    const child = { parent: this };
    const topic = new aws.sns.Topic(`${name}-topic`, { displayName: `drstack ${args.site} alarms` }, child);
    args.emails.forEach((email, index) => {
      new aws.sns.TopicSubscription(`${name}-email-${index}`, { topic: topic.arn, protocol: "email", endpoint: email }, child);
    });
    new aws.sns.TopicPolicy(`${name}-topic-policy`, { arn: topic.arn, policy: pulumi.jsonStringify(alarmTopicPolicy(topic.arn, args.accountId)) }, child);
    this.topicArn = topic.arn;
    this.registerOutputs({ topicArn: this.topicArn });
  }
}

/** What every alarm drstack declares passes: notify the site's topic on alarm and on recovery. */
export function notifyTopic(topicArn: pulumi.Input<string>): Pick<aws.cloudwatch.MetricAlarmArgs, "alarmActions" | "okActions"> {
  return { alarmActions: [topicArn], okActions: [topicArn] };
}

/**
 * A topic policy replaces SNS's default one, so it keeps the default's grant
 * to the owning account (SNS Developer Guide, "Amazon SNS access control":
 * the default policy) and adds EventBridge, for this account's rules only
 * (the drill task's stopped-with-a-failure rule): CloudWatch alarms publish
 * as the account and need nothing more.
 */
export function alarmTopicPolicy(topicArn: pulumi.Input<string>, accountId: pulumi.Input<string>): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "OwnerAccount",
        Effect: "Allow",
        Principal: { AWS: "*" },
        Action: ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission", "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish"],
        Resource: topicArn,
        Condition: { StringEquals: { "AWS:SourceOwner": accountId } },
      },
      { Sid: "EventBridgeRulesOfThisAccount", Effect: "Allow", Principal: { Service: "events.amazonaws.com" }, Action: "sns:Publish", Resource: topicArn, Condition: { StringEquals: { "aws:SourceAccount": accountId } } },
    ],
  };
}
