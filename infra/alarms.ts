import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { SiteName } from "./roles";

export interface SiteAlarmsArgs {
  site: SiteName;
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
    this.topicArn = topic.arn;
    this.registerOutputs({ topicArn: this.topicArn });
  }
}

/** What every alarm drstack declares passes: notify the site's topic on alarm and on recovery. */
export function notifyTopic(topicArn: pulumi.Input<string>): Pick<aws.cloudwatch.MetricAlarmArgs, "alarmActions" | "okActions"> {
  return { alarmActions: [topicArn], okActions: [topicArn] };
}
