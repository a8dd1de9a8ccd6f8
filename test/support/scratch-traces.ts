import type { SQL } from "bun";
import { readFileSync } from "node:fs";
import { SCRATCH_PREFIX } from "../../src/db/copies/names";
import { readHbaEntries } from "../../src/host/postgres";

/**
 * What scratch copies left in a host's PostgreSQL, as `database <name>`, `role <name>` and
 * `hba <db>` lines (in that order): through `admin`, and its pg_hba file `hbaFile`.
 */
export async function scratchPgTraces(admin: SQL, hbaFile: string): Promise<string[]> {
  const dbs = await admin<
    { n: string }[]
  >`SELECT datname AS n FROM pg_database WHERE starts_with(datname, ${SCRATCH_PREFIX})`;
  const roles = await admin<
    { n: string }[]
  >`SELECT rolname AS n FROM pg_roles WHERE starts_with(rolname, ${SCRATCH_PREFIX})`;
  const hba = readHbaEntries(readFileSync(hbaFile, "utf8")).filter((e) => e.db.startsWith(SCRATCH_PREFIX));
  return [...dbs.map((r) => `database ${r.n}`), ...roles.map((r) => `role ${r.n}`), ...hba.map((e) => `hba ${e.db}`)];
}
