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
