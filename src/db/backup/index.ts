export { runBackup, type BackupInput, type BackupResult, type BackupTargets, type TargetOutcome } from "./run";
export {
  restoreBackup,
  cleanupRestore,
  restoreScratch,
  compareFacts,
  type RestoreInput,
  type RestoreResult,
  type RestoreChecks,
} from "./restore";
export { swapDatabases, swapFilestore, discardDir, previousDbName, type SwapDatabasesOptions } from "./swap";
export { deleteBackup, type BackupLocation, type DeleteResult } from "./delete";
export {
  planRetention,
  explainRetention,
  type RetentionPolicy,
  type RetentionBackup,
  type RetentionDecision,
  type KeepReason,
  type BackupStatus,
} from "./retention";
export { readManifest, openPart, describeSource, type BackupSource } from "./source";
export {
  BackupManifestSchema,
  MANIFEST_KEY_PURPOSE,
  parseManifest,
  signManifest,
  type BackupManifest,
  type ManifestTrust,
  type PartInfo,
} from "./manifest";
export { readDbFacts, KEY_TABLES, odooSeries, seriesOf, type DbFacts } from "./facts";
export {
  localBackupDir,
  s3BackupPrefix,
  isBackupPrefix,
  assertBackupId,
  assertEnvSlug,
  PART_FILES,
  MANIFEST_FILE,
} from "./layout";
export { pgDump, pgRestore, pgDumpVersion, tarCreate, tarExtract, type PgAdmin } from "./commands";
export { cloneDatabase, copyFilestore, type CloneInput, type CloneResult, type CloneMethod } from "./clone";
export {
  anonymizeDatabase,
  checkAnonymizeRules,
  loadAnonymizeRules,
  odooPasswordHash,
  AnonymizeRulesSchema,
  type AnonymizeRules,
  type AnonymizeReport,
} from "./anonymize";
export { neutralizeDatabase, type NeutralizeReport } from "./neutralize";
export { collectPii, scanForPii, scanDatabase, type PiiNeedles, type PiiHit, type PiiScanStats } from "./pii";
export { backupRowUpdate, type BackupRowUpdate } from "./row";
