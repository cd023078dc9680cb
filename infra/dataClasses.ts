import { TierName } from "./tiers";

/**
 * The classes of data the backup bucket holds. Each class is a key prefix with
 * its own retention and recovery tier. The minimum retention is what the class
 * needs to be useful at all; config may lengthen it, never shorten it below.
 */
export interface DataClassDefinition {
  name: DataClassName;
  /** Key prefix in the backup bucket; lifecycle and replication rules filter on it. */
  prefix: string;
  description: string;
  minimumRetentionDays: number;
  /** Why the minimum is what it is, quoted in the validation error. */
  minimumReason: string;
}

export const DATA_CLASS_NAMES = ["db", "critical", "archive", "financial"] as const;
export type DataClassName = (typeof DATA_CLASS_NAMES)[number];

export const DATA_CLASSES: Record<DataClassName, DataClassDefinition> = {
  db: {
    name: "db",
    prefix: "db/",
    description: "database dumps (on their tier's schedule)",
    minimumRetentionDays: 7,
    minimumReason: "corruption noticed days late must still have a clean dump from before it",
  },
  critical: {
    name: "critical",
    prefix: "critical/",
    description: "backups of critical-tier systems",
    minimumRetentionDays: 30,
    minimumReason: "critical systems keep at least a month of restore points",
  },
  archive: {
    name: "archive",
    prefix: "archive/",
    description: "the one-year archive",
    minimumRetentionDays: 365,
    minimumReason: "it is the one-year archive",
  },
  financial: {
    name: "financial",
    prefix: "financial/",
    description: "financial records",
    minimumRetentionDays: 2557,
    minimumReason: "financial records are kept for 7 years",
  },
};

/** A data class with the retention and tier chosen in config. */
export interface DataClassPolicy extends DataClassDefinition {
  retentionDays: number;
  tier: TierName;
  /**
   * The class's own Object Lock mode, which the backup job applies to every
   * object it uploads into the class, retained for `retentionDays`. Absent:
   * the bucket's default retention applies.
   */
  objectLockMode?: "GOVERNANCE" | "COMPLIANCE";
}
