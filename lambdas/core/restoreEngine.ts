/**
 * A restore or a drill speaks the backup's engine, read from its manifest
 * (manifests written before MySQL support have no `engine` and are
 * PostgreSQL's): a target URL of another engine is refused before anything
 * is read from it or written to it.
 */
import { BackupEngine, ENGINE_LABELS, engineOfUrl } from "./engine";
import { UsageError } from "./errors";
import { BackupManifest, manifestEngine } from "./manifest";
import type { DatabaseConnection } from "./postgres";

const EXAMPLE_URL: Readonly<Record<BackupEngine, string>> = {
  postgres: "postgres://user:password@host:5432/app_restore_test",
  mysql: "mysql://user:password@host:3306/app_restore_test",
  mariadb: "mariadb://user:password@host:3306/app_restore_test",
};

/** The backup's engine, when the target URL names the same one; a UsageError naming the setting otherwise. */
export function checkTargetEngine(manifest: BackupManifest, target: DatabaseConnection): BackupEngine {
  const backup = manifestEngine(manifest);
  const wanted = engineOfUrl(target.url, target.label);
  if (wanted !== backup) {
    throw new UsageError(
      `${manifest.dumpKey} is a ${ENGINE_LABELS[backup]} backup (its manifest says engine ${backup}), but ${target.label} is a ${ENGINE_LABELS[wanted]} URL (${wanted}://). ` +
        `Name a ${ENGINE_LABELS[backup]} server there, e.g. ${EXAMPLE_URL[backup]}; nothing was changed.`,
    );
  }
  return backup;
}
