/**
 * Every timing drstack assumes about a mechanism it does not control, in one
 * place, with where the figure comes from. The objectives check and the
 * replication rules read these; change a figure here and both follow.
 */

/** S3 Replication Time Control replicates 99.99% of objects within 15 minutes (AWS S3 RTC SLA). */
export const S3_RTC_REPLICATION_MINUTES = 15;

/**
 * Without RTC, AWS documents that most objects replicate within 15 minutes but
 * some take "a couple of hours or more": there is no bound. drstack treats
 * uncontrolled replication as good only for objectives of a day or longer.
 */
export const UNCONTROLLED_REPLICATION_MINUTES = 24 * 60;

/**
 * How long drstack assumes MinIO's bucket replication takes to copy a new
 * backup into the peer data centre. MinIO replicates each object
 * asynchronously after the write and promises no bound (MinIO documentation,
 * "Bucket Replication", https://min.io/docs/minio/linux/administration/bucket-replication.html);
 * drstack's own estimate for a link between two data centres is 15 minutes.
 * The verify job reports a copy still missing after REPLICATION_GRACE_SECONDS,
 * so a stalled queue is seen.
 */
export const MINIO_REPLICATION_MINUTES = 15;

/**
 * A Docker site's promotion once its agent saw the new claim: pg_promote()
 * ends recovery and waits for it (PostgreSQL documentation, "Recovery Control
 * Functions", https://www.postgresql.org/docs/16/functions-admin.html), which
 * takes seconds; drstack's budget with the end-of-recovery checkpoint: 1 minute.
 */
export const DOCKER_PROMOTION_MINUTES = 1;

/** Starting the application's containers from pinned images already on the host: drstack's own estimate, 2 minutes. */
export const DOCKER_CONTAINER_START_MINUTES = 2;

/**
 * How often a tier's data is backed up when no backup schedule is provisioned
 * for it: once a day, the daily `pg_dump` of the plans this project grew from
 * (docs/design.md, "30 days of daily dumps"). The backups work replaces this figure
 * with its real schedule through `recoveryMechanisms()` in infra/objectives.ts.
 */
export const DEFAULT_BACKUP_INTERVAL_MINUTES = 24 * 60;

/**
 * TTL of the DNS record users resolve when drstack has not provisioned the
 * failover record: 300 s, the TTL of the plans this project grew from
 * (docs/design.md). Resolvers may cache an answer this long after the record moves.
 */
export const DEFAULT_DNS_TTL_SECONDS = 300;

/**
 * Route 53 propagates a change to all of its authoritative name servers within
 * 60 seconds (Amazon Route 53 Developer Guide, "Checking the status of your
 * change"; the same bound applies to failover routing flipping on a health
 * check). Cloudflare documents faster propagation; 60 s covers both.
 */
export const DNS_PROPAGATION_SECONDS = 60;

/**
 * Route 53 health check defaults when a health check exists but does not say:
 * a request every 30 seconds, unhealthy after 3 consecutive failures (Amazon
 * Route 53 API Reference, HealthCheckConfig: RequestInterval default 30,
 * FailureThreshold default 3).
 */
export const ROUTE53_DEFAULT_HEALTH_CHECK_INTERVAL_SECONDS = 30;
export const ROUTE53_DEFAULT_HEALTH_CHECK_FAILURE_THRESHOLD = 3;

/**
 * Without an alarm on the health checks (a plain record has no health check;
 * a Cloudflare load balancer's monitor, and Route 53 checks whose metrics live
 * in the primary's region, have no alarm drstack declares), a person notices
 * the outage: another alarm or a user report pages the on-call engineer, who
 * acknowledges it. Health checks that move DNS do not tell anyone by
 * themselves. drstack's own estimate (no external source): 15 minutes.
 * Replace it with your measured figure from a rehearsal.
 */
export const MANUAL_DETECTION_MINUTES = 15;

/**
 * From knowing the active site is down to the failover `pulumi up` changing
 * things: confirm the loss is real (a promotion cannot be undone), get the
 * change approved, set `activeSite` and start the `up`, whose preview runs
 * first. Health-checked DNS moves traffic by itself, but only this reviewed
 * `up` promotes the database and scales the standby (README, Failover).
 * drstack's own estimate (no external source): 10 minutes. Measure it in a
 * rehearsal and change it here.
 */
export const OPERATOR_DECISION_MINUTES = 10;

/**
 * Promoting a cross-region RDS read replica to a standalone writer: AWS says
 * the promotion "takes a few minutes" depending on the replica's size (Amazon
 * RDS User Guide, "Promoting a read replica to be a standalone DB instance",
 * https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_ReadRepl.Promote.html),
 * and the provider then applies the writer's settings with ModifyDBInstance
 * and waits for the instance to be available again. drstack's budget for
 * both: 10 minutes.
 */
export const DATABASE_PROMOTION_MINUTES = 10;

/**
 * Cross-region replica lag drstack assumes for the RPO of database data. AWS
 * documents no bound (RDS User Guide, "Monitoring read replication": lag is
 * usually seconds and grows under write bursts or network trouble), so this is
 * drstack's budget, not an SLA. The standby's ReplicaLag alarm
 * (infra/database.ts) fires when the replica exceeds it. For PostgreSQL the
 * metric is the time since the last replayed transaction (RDS User Guide,
 * "Monitoring and tuning the replication process"), so a writer with no
 * writes at all also raises it.
 */
export const DATABASE_REPLICA_LAG_MINUTES = 1;

/**
 * Without a replica, the database is restored from the latest dump in the
 * surviving region: creating an RDS instance (typically 10-20 minutes, RDS
 * User Guide, "Creating a DB instance") plus `pg_restore` of the dump.
 * drstack's estimate for a database of tens of GB: 60 minutes in all. The
 * restore drills measure the pg_restore part (`drstack plan --drills`), which
 * then replaces the estimate beside DATABASE_INSTANCE_CREATE_MINUTES.
 */
export const DATABASE_RESTORE_MINUTES = 60;

/** Creating the RDS instance a dump is restored into: drstack's estimate, the upper end of the typical 10-20 minutes (RDS User Guide, "Creating a DB instance"). */
export const DATABASE_INSTANCE_CREATE_MINUTES = 20;

/**
 * Scaling the warm standby's workloads from their standby size to full size:
 * new nodes join an EKS cluster in a few minutes (Karpenter and Cluster
 * Autoscaler both document 1-3 minutes to launch a node) plus image pulls and
 * readiness probes. It starts only after the promotion (the Deployments wait
 * for the connections Secret, which takes the database's address), so the
 * objectives add it to the promotion. drstack's estimate: 10 minutes.
 */
export const STANDBY_SCALE_UP_MINUTES = 10;
