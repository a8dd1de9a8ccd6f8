/** One admin connection to PostgreSQL, shared by the postgres, pg_hba and docker-access checks. */
import { errorText } from "../errors";
import type { Config } from "../config/schema";
import { run } from "../exec/run";
import { hbaErrors, hbaRules, pgAdmin, type HbaError, type HbaRule } from "../host/postgres";
import { lsClusters, parseClusters, type PgCluster, pickCluster } from "../host/postgres/cluster";
import { isMissingBinary } from "./docker-probe";

export type PostgresProbe =
  | {
      ok: true;
      /** "15.8" */
      version: string;
      versionNum: number;
      superuser: boolean;
      createRole: boolean;
      createDb: boolean;
      /** Null when the role may not read server settings (not superuser nor pg_read_all_settings). */
      hbaFile: string | null;
      listenAddresses: string | null;
      /** Lines the server rejects in its pg_hba.conf; null when it may not read pg_hba_file_rules. */
      hbaErrors: HbaError[] | null;
      /** The rules the server uses, in order; null when it may not read pg_hba_file_rules. */
      hbaRules: HbaRule[] | null;
    }
  | { ok: false; error: string };

async function optional<T>(fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn();
  } catch {
    return null;
  }
}

export async function probePostgres(cfg: Config["postgres"]): Promise<PostgresProbe> {
  const sql = pgAdmin(cfg);
  try {
    const [v] = await sql<
      { version: string; num: string }[]
    >`SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num`;
    const [role] = await sql<{ rolsuper: boolean; rolcreaterole: boolean; rolcreatedb: boolean }[]>`
      SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user`;
    const settings = await optional(async () => {
      const [s] = await sql<
        { hba: string; listen: string }[]
      >`SELECT current_setting('hba_file') AS hba, current_setting('listen_addresses') AS listen`;
      return s;
    });
    return {
      ok: true,
      version: v?.version.split(" ")[0] ?? "?",
      versionNum: Number(v?.num ?? 0),
      superuser: role?.rolsuper === true,
      createRole: role?.rolcreaterole === true,
      createDb: role?.rolcreatedb === true,
      hbaFile: settings?.hba ?? null,
      listenAddresses: settings?.listen ?? null,
      hbaErrors: await optional(() => hbaErrors(sql)),
      hbaRules: await optional(() => hbaRules(sql)),
    };
  } catch (e) {
    return { ok: false, error: errorText(e) };
  } finally {
    await sql.close().catch(() => undefined);
  }
}

/**
 * The cluster on this machine, or null without Debian's wrappers; init asks for it too.
 */
export async function detectCluster(): Promise<PgCluster | null> {
  try {
    const r = await run(lsClusters(), { nothrow: true });
    return r.exitCode === 0 ? pickCluster(parseClusters(r.stdout)) : null;
  } catch (e) {
    if (isMissingBinary(e)) return null;
    throw e;
  }
}
