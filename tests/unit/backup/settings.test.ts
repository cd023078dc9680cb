import { Settings, backupOptions, restoreOptions, verifyOptions } from "../../../lambdas/settings";

const base = { BACKUP_BUCKET: "b", DATABASE_URL: "postgres://u:p@db:5432/app", BACKUP_TIER: "critical" };

describe("settings", () => {
  it("lets flags win over environment variables", async () => {
    const opts = await backupOptions(new Settings({ tier: "low", bucket: "from-flag" }, base));
    expect(opts.bucket.bucket).toBe("from-flag");
    expect(opts.target).toEqual({ database: undefined, tier: "low", dataClass: "db" });
  });

  it("uses the db class unless one is given, whatever the tier (as the backupDatabases config does)", async () => {
    expect((await backupOptions(new Settings({}, base))).target.dataClass).toBe("db");
    expect((await backupOptions(new Settings({}, { ...base, BACKUP_DATA_CLASS: "financial" }))).target.dataClass).toBe("financial");
    expect(restoreOptions(new Settings({ name: "app", "target-database-url": "postgres://x@h/d" }, { BACKUP_BUCKET: "b" })).source.dataClass).toBe("db");
    expect(restoreOptions(new Settings({ name: "app", "data-class": "critical", "target-database-url": "postgres://x@h/d" }, { BACKUP_BUCKET: "b" })).source.dataClass).toBe("critical");
  });

  it("refuses the old name of the db class with the fix", async () => {
    await expect(backupOptions(new Settings({ "data-class": "daily" }, base))).rejects.toThrow(/called "db".*Use db/);
  });

  it("backs up as the given site and epoch on a host without a claim (default primary, 0), and from the claim when one is named", async () => {
    expect((await backupOptions(new Settings({}, base))).writer).toEqual({ site: "primary", epoch: 0 });
    expect((await backupOptions(new Settings({ site: "onprem", epoch: "7" }, base))).writer).toEqual({ site: "onprem", epoch: 7 });
    const claimed = await backupOptions(new Settings({}, { ...base, FENCING_CLAIM_PARAMETER: "/p/claim", FENCE_MARKER_PARAMETER: "/p/fence", GUARD_FUNCTION: "g" }));
    expect(typeof claimed.writer).toBe("function");
    expect(verifyOptions(new Settings({}, { BACKUP_BUCKET: "a", BACKUP_TARGETS: "app:critical", SITE: "onprem" })).sites).toEqual(["onprem"]);
  });

  it("drops milliseconds from the slot so a retry with the same scheduled time maps to the same keys", async () => {
    const opts = await backupOptions(new Settings({ slot: "2026-11-23T02:00:00.412Z" }, base));
    expect(opts.slot?.toISOString()).toBe("2026-11-23T02:00:00.000Z");
  });

  it.each([
    [{ BACKUP_TIER: undefined }, /Missing --tier \/ BACKUP_TIER/],
    [{ BACKUP_BUCKET: undefined }, /Missing --bucket \/ BACKUP_BUCKET/],
    [{ DATABASE_URL: undefined }, /Missing --database-url \/ DATABASE_URL/],
    [{ S3_ACCESS_KEY_ID: "only-id" }, /--access-key-id \/ S3_ACCESS_KEY_ID and --secret-access-key \/ S3_SECRET_ACCESS_KEY go together/],
    [{ BACKUP_CONCURRENCY: "0" }, /--concurrency \/ BACKUP_CONCURRENCY must be a whole number from 1 to 64/],
    [{ BACKUP_SLOT: "yesterday" }, /--slot \/ BACKUP_SLOT must be an ISO 8601 time/],
    [{ S3_ENDPOINT: "minio:9000" }, /--s3-endpoint \/ S3_ENDPOINT must be a URL/],
    [{ SITE: "Primary-1" }, /--site \/ SITE: site "Primary-1" must be 1-32 lowercase letters and digits/],
    [{ BACKUP_EPOCH: "-1" }, /--epoch \/ BACKUP_EPOCH must be a whole number from 0 to 1000000/],
    [{ GUARD_FUNCTION: "g" }, /need --claim-parameter \/ FENCING_CLAIM_PARAMETER: the claim is what they are checked against/],
    [{ FENCING_CLAIM_PARAMETER: "/x/claim" }, /Missing --fence-marker-parameter \/ FENCE_MARKER_PARAMETER/],
  ])("rejects %j before touching anything", async (override, message) => {
    await expect(backupOptions(new Settings({}, { ...base, ...override }))).rejects.toThrow(message);
  });

  it("checks the peer only when a peer bucket is configured, with the same credentials by default", () => {
    const env = { BACKUP_BUCKET: "a", BACKUP_TARGETS: "app:critical", S3_ACCESS_KEY_ID: "k", S3_SECRET_ACCESS_KEY: "s" };
    expect(verifyOptions(new Settings({}, env)).peer).toBeUndefined();
    const v = verifyOptions(new Settings({}, { ...env, PEER_BUCKET: "b", PEER_REGION: "us-west-2", METRIC_NAMESPACE: "drstack/backups" }));
    expect(v.peer).toMatchObject({ bucket: "b", region: "us-west-2", credentials: { accessKeyId: "k", secretAccessKey: "s" } });
    expect(v.monitoring).toMatchObject({ namespace: "drstack/backups", region: "us-east-1" });
    expect(v.deep).toBe(true);
  });

  it("rejects an alarm topic that is not an ARN", () => {
    expect(() => verifyOptions(new Settings({}, { BACKUP_BUCKET: "a", BACKUP_TARGETS: "app:low", ALARM_TOPIC_ARN: "alerts" }))).toThrow(/must be an SNS topic ARN/);
  });
});
