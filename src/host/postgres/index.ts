export { pgAdmin, pgConnect, type PgTarget } from "./connect";
export { assertIdent, quoteIdent, quoteLiteral, scramVerifier, IDENT } from "./quote";
export {
  createRole,
  createLoginAlias,
  createDatabase,
  restrictDatabase,
  dropDatabase,
  dropRole,
  dropThrowawayRole,
  databaseSize,
  copyApplicationName,
  terminateSessions,
  databaseExists,
  roleExists,
  listDatabases,
  listRoles,
} from "./ops";
export {
  HBA_BEGIN,
  HBA_END,
  hbaLine,
  assertCidr,
  readHbaEntries,
  upsertHbaEntry,
  removeHbaEntryText,
  type HbaEntry,
} from "./hba";
export {
  setHbaEntry,
  removeHbaEntry,
  replaceHbaFile,
  hbaErrors,
  hbaRules,
  writeAtomic as writeHbaFileAtomic,
  type HbaError,
  type HbaRule,
} from "./hba-apply";
export {
  TENANT_SEARCH_PATH,
  hasOwnedTable,
  ownedPublicTables,
  tenantHost,
  withTenant,
  type TenantLogin,
} from "./tenant";
