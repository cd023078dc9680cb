import { certificateCovers, certificateNames, certificateValidation } from "../../infra/certificates";
import { WEB_SERVICE_PORT, WEB_TLS_POLICY } from "../../infra/workloads";
import { acmValidationRecord, Evaluation, RecordedResource } from "../../offline/evaluate";
import { CHEAP_EXAMPLE, evaluate, evaluateIn, MAIN_EXAMPLE, resourcesOfType, single, within } from "./evaluations";

jest.setTimeout(120_000);

const T = {
  certificate: "aws:acm/certificate:Certificate",
  validation: "aws:acm/certificateValidation:CertificateValidation",
  service: "kubernetes:core/v1:Service",
  deployment: "kubernetes:apps/v1:Deployment",
  r53Check: "aws:route53/healthCheck:HealthCheck",
  r53Record: "aws:route53/record:Record",
  cfRecord: "cloudflare:index/dnsRecord:DnsRecord",
  cfMonitor: "cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor",
  cfPool: "cloudflare:index/loadBalancerPool:LoadBalancerPool",
};
const ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-";
const NAMES = ["shop.example.com", "primary.shop.example.com", "secondary.shop.example.com"];
const LOST_PRIMARY = { kind: "unreachable" } as const;

/** The health-checked modes, each from the stack files that use it: Route 53 the example stacks, Cloudflare the cheaper example. */
const DNS_MODES: Array<[string, string, Record<string, string>]> = [
  ["Route 53", MAIN_EXAMPLE, { dnsProvider: "route53", route53ZoneId: "Z04517273EXAMPLE1XYZ" }],
  ["Cloudflare load balancer", CHEAP_EXAMPLE, { cloudflareLoadBalancer: "true", cloudflareAccountId: "f037e56e89293a057740de681ac9abbe" }],
];

/** What one health check sends: where it connects, how, and the TLS server name it expects a certificate for. */
interface HealthCheckRequest {
  check: string;
  /** The host it connects to: a site's endpoint. */
  address: string;
  /** The TLS server name (SNI) and Host it sends. */
  serverName: string | undefined;
  protocol: string;
  port: number;
  path: string;
  /** Whether a certificate that does not cover serverName still passes (it must not). */
  acceptsAnyCertificate: boolean;
}

function healthCheckRequests(evaluation: Evaluation): HealthCheckRequest[] {
  const route53 = resourcesOfType(evaluation, T.r53Check).map((check) => ({
    check: check.name,
    address: String(check.inputs.fqdn),
    // Route 53 sends FullyQualifiedDomainName as SNI only when EnableSNI is true
    // (https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html).
    serverName: check.inputs.enableSni === true ? String(check.inputs.fqdn) : undefined,
    protocol: String(check.inputs.type),
    port: Number(check.inputs.port),
    path: String(check.inputs.resourcePath),
    // Route 53 retries without SNI rather than failing on a name mismatch, so only SNI plus a covering certificate is the real check.
    acceptsAnyCertificate: false,
  }));
  const monitors = new Map(resourcesOfType(evaluation, T.cfMonitor).map((monitor) => [`${monitor.name}-id`, monitor]));
  const cloudflare = resourcesOfType(evaluation, T.cfPool).flatMap((pool) => {
    const monitor = monitors.get(String(pool.inputs.monitor))!;
    return (pool.inputs.origins as Array<{ address: string; header?: { hosts?: string[] } }>).map((origin) => ({
      check: `${monitor.name} -> ${pool.name}`,
      address: origin.address,
      // The origin's Host header override is what the monitor sends
      // (https://developers.cloudflare.com/load-balancing/additional-options/override-http-host-headers/).
      serverName: origin.header?.hosts?.[0] ?? origin.address,
      protocol: String(monitor.inputs.type).toUpperCase(),
      port: Number(monitor.inputs.port),
      path: String(monitor.inputs.path),
      acceptsAnyCertificate: monitor.inputs.allowInsecure !== false,
    }));
  });
  return [...route53, ...cloudflare];
}

/** What a site's web load balancer serves, as the AWS Load Balancer Controller builds it from the Service. */
interface Served {
  tlsPorts: number[];
  plainPorts: number[];
  certificateArn: string | undefined;
  certificateNames: string[];
  policy: string | undefined;
  targetContainerPort: number | undefined;
}

function served(evaluation: Evaluation): Served {
  const service = single(evaluation, T.service).inputs as {
    metadata: { annotations: Record<string, string> };
    spec: { ports: Array<{ name: string; port: number; targetPort: string | number }> };
  };
  const annotations = service.metadata.annotations;
  // ssl-ports names the TLS ports; without it every port is TLS
  // (https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/annotations/#ssl-ports).
  const sslPorts = annotations[`${ANNOTATION}ssl-ports`]?.split(",").map((entry) => entry.trim());
  const isTls = (port: { name: string; port: number }) =>
    annotations[`${ANNOTATION}ssl-cert`] !== undefined && (sslPorts === undefined || sslPorts.includes(port.name) || sslPorts.includes(String(port.port)));
  const certificateArn = annotations[`${ANNOTATION}ssl-cert`];
  const certificate = resourcesOfType(evaluation, T.certificate).find((candidate) => `arn:aws:acm:${evaluation.config["aws:region"]}:123456789012:certificate/${candidate.name}` === certificateArn);
  const web = resourcesOfType(evaluation, T.deployment).find((deployment) => (deployment.inputs.metadata as { name: string }).name === "web")!;
  const container = (web.inputs.spec as { template: { spec: { containers: Array<{ ports: Array<{ name: string; containerPort: number }> }> } } }).template.spec.containers[0];
  const targetPort = service.spec.ports[0].targetPort;
  return {
    tlsPorts: service.spec.ports.filter(isTls).map((port) => port.port),
    plainPorts: service.spec.ports.filter((port) => !isTls(port)).map((port) => port.port),
    certificateArn,
    certificateNames: certificate ? [String(certificate.inputs.domainName), ...((certificate.inputs.subjectAlternativeNames as string[]) ?? [])] : [],
    policy: annotations[`${ANNOTATION}ssl-negotiation-policy`],
    targetContainerPort: container.ports.find((port) => port.name === targetPort || port.containerPort === targetPort)?.containerPort,
  };
}

describe.each(DNS_MODES)("every health-checked endpoint is served over TLS by a certificate that covers the name the check sends (%s)", (_mode, stackDir, dns) => {
  test.each(["primary", "secondary"] as const)("with activeSite=%s", async (activeSite) => {
    const owner = await evaluateIn(stackDir, "secondary", { ...dns, activeSite }, activeSite === "secondary" ? LOST_PRIMARY : undefined);
    const checks = healthCheckRequests(owner);
    expect(checks.map((check) => check.address).sort()).toEqual(["primary.shop.example.com", "secondary.shop.example.com"]);
    for (const check of checks) {
      const site = check.address.split(".")[0];
      const lb = served(site === "secondary" ? owner : await evaluateIn(stackDir, "primary", { ...dns, activeSite }));
      expect({ check: check.check, protocol: check.protocol, tls: lb.tlsPorts.includes(check.port), plain: lb.plainPorts }).toEqual({
        check: check.check,
        protocol: "HTTPS",
        tls: true,
        plain: [],
      });
      expect({ check: check.check, serverName: check.serverName, covered: certificateCovers(lb.certificateNames, check.serverName ?? ""), strict: !check.acceptsAnyCertificate }).toEqual({
        check: check.check,
        serverName: check.address,
        covered: true,
        strict: true,
      });
      expect(check.path).toBe("/api/health/deep");
      expect(lb.targetContainerPort).toBe(8080);
      expect(lb.policy).toBe(WEB_TLS_POLICY);
    }
  });
});

describe("the certificate check can fail", () => {
  test("a certificate covers exact names only, case aside", () => {
    expect(certificateCovers(NAMES, "Primary.Shop.Example.com")).toBe(true);
    expect(certificateCovers(NAMES, "tertiary.shop.example.com")).toBe(false);
    expect(certificateCovers(["*.shop.example.com"], "primary.shop.example.com")).toBe(false);
    expect(certificateCovers([], "shop.example.com")).toBe(false);
  });
});

describe("TLS on the web load balancer", () => {
  test.each(["primary", "secondary"] as const)("the %s site listens for HTTPS on 443 only, with TLS 1.2 or later, to the pods' http port", async (stack) => {
    const service = single(await evaluate(stack), T.service).inputs as { metadata: { annotations: Record<string, string> }; spec: { ports: unknown[] } };
    expect(service.spec.ports).toEqual([{ name: "https", port: 443, targetPort: "http", protocol: "TCP" }]);
    expect(WEB_SERVICE_PORT.port).toBe(443);
    expect(service.metadata.annotations).toMatchObject({
      [`${ANNOTATION}type`]: "external",
      [`${ANNOTATION}nlb-target-type`]: "ip",
      [`${ANNOTATION}scheme`]: "internet-facing",
      [`${ANNOTATION}ssl-ports`]: "https",
      // The controller's default, ELBSecurityPolicy-2016-08, accepts TLS 1.0.
      [`${ANNOTATION}ssl-negotiation-policy`]: "ELBSecurityPolicy-TLS13-1-2-2021-06",
      [`${ANNOTATION}backend-protocol`]: "tcp",
      [`${ANNOTATION}healthcheck-protocol`]: "http",
      [`${ANNOTATION}healthcheck-path`]: "/api/health",
    });
  });

  test.each(["primary", "secondary"] as const)("the %s site's load balancer uses the issued certificate of its own region, covering appHostname and both endpoints", async (stack) => {
    const evaluation = await evaluate(stack);
    const certificate = single(evaluation, T.certificate);
    expect(certificate.provider).toContain(`::${stack}-aws::`);
    expect(certificate.inputs).toMatchObject({ domainName: "shop.example.com", subjectAlternativeNames: NAMES.slice(1), validationMethod: "DNS" });
    const issued = single(evaluation, T.validation);
    expect(issued.inputs.certificateArn).toBe(`arn:aws:acm:${evaluation.config["aws:region"]}:123456789012:certificate/${certificate.name}`);
    const annotations = (single(evaluation, T.service).inputs.metadata as { annotations: Record<string, string> }).annotations;
    expect(annotations[`${ANNOTATION}ssl-cert`]).toBe(issued.inputs.certificateArn);
    expect(evaluation.outputs.certificateArn).toBe(issued.inputs.certificateArn);
  });

  test("certificateNames: appHostname first, then the endpoints, each once", () => {
    expect(certificateNames("shop.example.com", { primary: "primary.shop.example.com", secondary: "secondary.shop.example.com" })).toEqual(NAMES);
    expect(certificateNames("shop.example.com", { primary: "shop.example.com", secondary: "dr.shop.example.com" })).toEqual(["shop.example.com", "dr.shop.example.com"]);
  });
});

describe("certificate validation goes through the DNS owner", () => {
  test("only the DNS owner writes validation records; the primary waits once its peer exists", () => {
    expect(certificateValidation("secondary", true)).toBe("records");
    expect(certificateValidation("secondary", false)).toBe("records");
    expect(certificateValidation("primary", true)).toBe("wait");
    expect(certificateValidation("primary", false)).toBe("pending");
  });

  const validationRecords = (evaluation: Evaluation): RecordedResource[] =>
    within(evaluation, "drstack:certificates:SiteCertificate").resources.filter((resource) => resource.type === T.r53Record || resource.type === T.cfRecord);

  test.each([
    ["Cloudflare", CHEAP_EXAMPLE, {}, T.cfRecord],
    ["Route 53", MAIN_EXAMPLE, { dnsProvider: "route53", route53ZoneId: "Z04517273EXAMPLE1XYZ" }, T.r53Record],
  ] as const)(
    // ACM issues one validation CNAME per domain name and account, valid in every region
    // (https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html), so the secondary's
    // records also validate the primary's certificate for the same names.
    "%s: the secondary writes one record per name, which covers every name of the primary's certificate too",
    async (_mode, stackDir, dns, type) => {
      const secondary = await evaluateIn(stackDir, "secondary", dns);
      const primary = await evaluateIn(stackDir, "primary", dns);
      expect(validationRecords(primary)).toEqual([]);
      const records = validationRecords(secondary);
      expect(records.every((record) => record.type === type)).toBe(true);
      const written = records.map((record) => `${String(record.inputs.name)} ${String(record.inputs.records ?? record.inputs.content)}`).sort();
      const primaryNames = [String(single(primary, T.certificate).inputs.domainName), ...(single(primary, T.certificate).inputs.subjectAlternativeNames as string[])];
      const needed = primaryNames
        .map((name) => acmValidationRecord(name))
        .map((record) => `${record.resourceRecordName.replace(/\.$/, "")} ${record.resourceRecordValue.replace(/\.$/, "")}`)
        .sort();
      expect(written).toEqual(needed);
      for (const record of records) {
        expect(record.inputs).toMatchObject(type === T.cfRecord ? { type: "CNAME", proxied: false } : { type: "CNAME", allowOverwrite: true });
      }
      const issued = single(secondary, T.validation);
      expect((issued.inputs.validationRecordFqdns as string[]).length).toBe(3);
    },
  );

  test("the primary's first deployment requests its certificate, waits for nothing and declares no web Service yet", async () => {
    const evaluation = await evaluate("primary", { peerProvisioned: "false" });
    expect(resourcesOfType(evaluation, T.certificate)).toHaveLength(1);
    expect(resourcesOfType(evaluation, T.validation)).toEqual([]);
    expect(resourcesOfType(evaluation, T.service)).toEqual([]);
    expect(evaluation.warnings.join("\n")).toMatch(/The TLS certificate of primary is requested but not waited for.*run `pulumi -s primary up` again/);
  });

  test("the failover up of the secondary changes nothing about TLS", async () => {
    const before = await evaluate("secondary");
    const after = await evaluate("secondary", { activeSite: "secondary" }, LOST_PRIMARY);
    const tls = (evaluation: Evaluation) => JSON.stringify(within(evaluation, "drstack:certificates:SiteCertificate").resources.map((r) => [r.name, r.inputs]));
    expect(tls(after)).toBe(tls(before));
  });
});
