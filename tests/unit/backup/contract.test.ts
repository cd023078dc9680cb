import { BACKUP_METRICS, DRILL_REPORT_FORMAT, METRIC_NAMESPACE } from "../../../infra/backupContract";
import { DRILL_FORMAT } from "../../../lambdas/core/drill";
import { DEFAULT_METRIC_NAMESPACE, METRICS } from "../../../lambdas/core/verify";

// The Pulumi program and the handlers each declare what they agree on (neither imports the other); these hold the two sides equal.
describe("infra/backupContract.ts and lambdas/ agree", () => {
  test("the verifier's metric names and namespace are the ones the alarms watch", () => {
    expect(METRIC_NAMESPACE).toBe(DEFAULT_METRIC_NAMESPACE);
    expect([BACKUP_METRICS.age, BACKUP_METRICS.size, BACKUP_METRICS.replicationLag]).toEqual([METRICS.age, METRICS.size, METRICS.lag]);
  });

  test("the drill report format the plan reads is the one the drill writes", () => {
    expect(DRILL_REPORT_FORMAT).toBe(DRILL_FORMAT);
  });
});
