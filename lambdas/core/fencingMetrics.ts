/**
 * The metrics the fencing guard publishes (dimension `Site`), which the
 * infrastructure's alarms watch: one definition for both sides, with no
 * dependencies, so the Pulumi program can import it without the AWS SDK.
 */
export const FENCING_METRIC_NAMESPACE = "drstack/fencing";

export const FENCING_METRICS = {
  peerUnreachable: "PeerUnreachable",
  inconsistent: "ClaimsInconsistent",
  fenced: "Fenced",
  actionFailed: "FenceActionFailed",
} as const;
