import { DOCKER_CONTAINER_START_MINUTES, DOCKER_PROMOTION_MINUTES } from "../assumptions";
import { DataClassName } from "../dataClasses";
import { assessPosture, DrPosture, healthCheckMechanisms, interimGaps, RecoveryMechanisms, ReplicationMechanism, standbyDatabase } from "../objectives";
import { checkScheduleExpression } from "../scheduleExpression";
import { TIER_NAMES, TierName } from "../tiers";
import { DockerDrConfig } from "./config";

/**
 * What a Docker site's mechanisms achieve, in the same model as an AWS site's
 * (infra/objectives.ts): the failover DNS and its health checks, a streaming
 * standby the agent promotes, the backup schedules, and MinIO's replication
 * of every data class into the peer. There is no point-in-time recovery: a
 * corruption is undone from the newest dump before it.
 */
export function dockerRecoveryMechanisms(config: DockerDrConfig, pair: { peerProvisioned: boolean; standbyReplica: boolean }): RecoveryMechanisms {
  const replication = {} as Record<DataClassName, ReplicationMechanism>;
  for (const dataClass of config.dataClasses) {
    replication[dataClass.name] = pair.peerProvisioned ? "site-to-site" : "none";
  }
  const backupIntervalMinutes: Partial<Record<TierName, number>> = {};
  for (const tier of TIER_NAMES) {
    const schedule = checkScheduleExpression(config.backups.schedules[tier]);
    if (schedule.ok && schedule.intervalMinutes !== undefined) {
      backupIntervalMinutes[tier] = schedule.intervalMinutes;
    }
  }
  const interval = config.docker.guardIntervalSeconds;
  return {
    dnsTtlSeconds: config.dns.ttlSeconds,
    ...healthCheckMechanisms(config),
    databaseReplica: pair.peerProvisioned && pair.standbyReplica,
    databaseEngine: config.database.engine,
    selfHosted: {
      promotionMinutes: interval / 60 + DOCKER_PROMOTION_MINUTES,
      promotionBasis: `the standby's site agent sees the new writer claim within its guard interval (${interval} s) and promotes its PostgreSQL standby (${DOCKER_PROMOTION_MINUTES} min), the lost writer's stream having stopped long before the decision`,
      scaleUpMinutes: DOCKER_CONTAINER_START_MINUTES,
      scaleUpBasis: "the `up` starts the application containers to full size from pinned images already on the host",
    },
    backupIntervalMinutes,
    replication,
  };
}

export function assessDockerSitePosture(config: DockerDrConfig): DrPosture {
  const posture = assessPosture(config, dockerRecoveryMechanisms(config, { peerProvisioned: config.peerProvisioned, standbyReplica: standbyDatabase(config).mode === "replica" }));
  const gaps = interimGaps(config);
  return gaps.length === 0
    ? posture
    : { ...posture, interimGaps: gaps, whenComplete: assessPosture(config, dockerRecoveryMechanisms(config, { peerProvisioned: true, standbyReplica: true })) };
}
