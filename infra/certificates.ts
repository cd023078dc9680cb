import * as aws from "@pulumi/aws";
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { DnsConfig } from "./config";
import { SiteName, SITES } from "./roles";
import { ownsDns } from "./sitePlan";

/**
 * How a site's certificate gets issued, from the DNS ownership rule:
 *
 * - `records`: the DNS owner (the secondary) writes the validation records and
 *   waits until ACM has issued its own certificate;
 * - `wait`: the primary writes no DNS; it waits for its certificate, which the
 *   owner's records validate too. ACM's validation CNAME is one per domain
 *   name and account, valid in every region
 *   (https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html:
 *   "the CNAME validation token works for any AWS Region"), so the records of
 *   the secondary's certificate validate the primary's certificate for the
 *   same names, and no stack reads the other's outputs for them;
 * - `pending`: the primary's very first deployment (`peerProvisioned` false),
 *   before the secondary and its records exist. The certificate is requested
 *   but not waited for (the wait would time out), and the web Service waits
 *   for the next `up`.
 */
export type CertificateValidation = "records" | "wait" | "pending";

export function certificateValidation(site: SiteName, peerProvisioned: boolean): CertificateValidation {
  if (ownsDns(site)) {
    return "records";
  }
  return peerProvisioned ? "wait" : "pending";
}

/**
 * The names every site's certificate covers: the hostname users type and both
 * sites' endpoints, which the DNS health checks request by name (SNI). Both
 * sites' certificates cover the same names, so after a failover either
 * load balancer serves every name DNS may send to it.
 */
export function certificateNames(appHostname: string, endpoints: Record<SiteName, string>): string[] {
  return [...new Set([appHostname, ...SITES.map((site) => endpoints[site])])];
}

/** Whether a certificate for `names` covers the TLS server name `host`. drstack requests exact names only, never wildcards. */
export function certificateCovers(names: readonly string[], host: string): boolean {
  return names.some((name) => !name.includes("*") && name.toLowerCase() === host.toLowerCase());
}

export interface CertificateDnsArgs {
  dns: DnsConfig;
  /** Route 53 is written through the site's own provider (it is a global service). */
  awsProvider: aws.Provider;
  /** The DNS owner's Cloudflare provider, when Cloudflare serves the zone. */
  cloudflareProvider?: cloudflare.Provider;
}

export interface SiteCertificateArgs {
  site: SiteName;
  /** `certificateNames(...)`: the first is the certificate's domain name, the rest its alternative names. */
  names: string[];
  validation: CertificateValidation;
  /** Where the validation records go; required when `validation` is `records`. */
  dns?: CertificateDnsArgs;
}

/**
 * The ACM certificate of one site, in the site's own region (a load balancer
 * can only use a certificate of its own region), DNS-validated. The web
 * Service's load balancer terminates TLS with it; `issuedArn` resolves only
 * once ACM has issued it, so the Service never points at a pending one.
 */
export class SiteCertificate extends pulumi.ComponentResource {
  public readonly names: string[];
  public readonly arn: pulumi.Output<string>;
  /** The certificate's ARN once issued; undefined while `pending`. */
  public readonly issuedArn?: pulumi.Output<string>;

  constructor(name: string, args: SiteCertificateArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:certificates:SiteCertificate", name, {}, opts);
    if (args.names.length === 0) {
      throw new Error(`${name}: a certificate needs at least one name`);
    }
    this.names = args.names;
    const certificate = new aws.acm.Certificate(
      `${name}-certificate`,
      {
        domainName: args.names[0],
        subjectAlternativeNames: args.names.slice(1),
        validationMethod: "DNS",
        keyAlgorithm: "RSA_2048",
        tags: { Name: `drstack ${args.site} ${args.names[0]}` },
      },
      { parent: this },
    );
    this.arn = certificate.arn;

    if (args.validation === "records") {
      if (args.dns === undefined) {
        throw new Error(`${name}: the DNS owner's certificate needs the DNS to write its validation records in`);
      }
      const fqdns = args.names.map((domain) => validationRecord(`${name}-validation-${domain}`, certificate, domain, args.dns!, this));
      this.issuedArn = new aws.acm.CertificateValidation(`${name}-issued`, { certificateArn: certificate.arn, validationRecordFqdns: fqdns }, { parent: this })
        .certificateArn;
    } else if (args.validation === "wait") {
      this.issuedArn = new aws.acm.CertificateValidation(`${name}-issued`, { certificateArn: certificate.arn }, { parent: this }).certificateArn;
    }
    this.registerOutputs({ arn: this.arn, issuedArn: this.issuedArn });
  }
}

/** ACM's record for one name, without the trailing dot DNS APIs do not want. */
function validationOption(certificate: aws.acm.Certificate, domain: string): pulumi.Output<{ name: string; type: string; value: string }> {
  return certificate.domainValidationOptions.apply((options) => {
    const option = options.find((candidate) => candidate.domainName === domain);
    if (!option?.resourceRecordName || !option.resourceRecordType || !option.resourceRecordValue) {
      throw new Error(`ACM returned no DNS validation record for ${domain}`);
    }
    const bare = (value: string) => value.replace(/\.$/, "");
    return { name: bare(option.resourceRecordName), type: option.resourceRecordType, value: bare(option.resourceRecordValue) };
  });
}

/** Writes the validation CNAME of `domain` in the DNS owner's zone and returns its name. */
function validationRecord(name: string, certificate: aws.acm.Certificate, domain: string, owner: CertificateDnsArgs, parent: pulumi.Resource): pulumi.Output<string> {
  const option = validationOption(certificate, domain);
  if (owner.dns.provider === "route53") {
    const record = new aws.route53.Record(
      name,
      {
        zoneId: owner.dns.route53ZoneId,
        name: option.name,
        type: option.type,
        records: [option.value],
        ttl: 300,
        // The same name serves every certificate for this domain in the account,
        // so a record left by an earlier request is taken over, not a conflict.
        allowOverwrite: true,
      },
      { parent, provider: owner.awsProvider },
    );
    return record.fqdn;
  }
  if (owner.cloudflareProvider === undefined) {
    throw new Error(`${name}: Cloudflare serves the zone but no Cloudflare provider was given`);
  }
  const record = new cloudflare.DnsRecord(
    name,
    {
      zoneId: owner.dns.cloudflare.zoneId,
      name: option.name,
      type: "CNAME",
      content: option.value,
      ttl: 300,
      // ACM must see the record itself, not a Cloudflare-proxied answer.
      proxied: false,
      comment: `drstack: ACM DNS validation of ${domain}`,
    },
    { parent, provider: owner.cloudflareProvider },
  );
  return record.name;
}
