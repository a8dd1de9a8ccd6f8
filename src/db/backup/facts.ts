/**
 * What a manifest says about the database, read inside the transaction whose snapshot pg_dump
 * dumps: the counts and modules describe exactly the dumped data, not "roughly the same moment".
 * After a restore the same facts are read from the new database and compared.
 * `sql` is a tenant session (host/postgres/tenant.ts): only the role's own tables count.
 */
import type { SQL } from "bun";
import { Invalid } from "../../errors";
import { quoteIdent } from "../../host/postgres/quote";
import { hasOwnedTable, ownedPublicTables } from "../../host/postgres/tenant";

/** Tables every Odoo database has and whose counts must survive a round trip exactly. */
export const KEY_TABLES = [
  "ir_module_module",
  "ir_config_parameter",
  "res_company",
  "res_partner",
  "res_users",
  "ir_attachment",
];

export interface DbFacts {
  modules: { name: string; version: string | null }[];
  rowCounts: Record<string, number>;
  tableCount: number;
  serverVersion: string;
  /** "17.0" from base's installed version "17.0.1.3"; null when base is not installed. */
  odooSeries: string | null;
  baseInstalled: boolean;
}

export function odooSeries(baseVersion: string | null | undefined): string | null {
  const m = /^((?:saas~)?\d+\.\d+)\./.exec(baseVersion ?? "");
  return m ? m[1] : null;
}

/** The Odoo series (e.g. 17.0) from the installed base module, else the image tag. */
export function seriesOf(installed: Map<string, { latestVersion: string | null }>, image: string): string {
  const fromDb = odooSeries(installed.get("base")?.latestVersion);
  if (fromDb) return fromDb;
  const tag = /:(\d+\.\d+)/.exec(image)?.[1];
  if (tag) return tag;
  throw new Invalid(
    `cannot tell the Odoo series of ${image}: its database has no base module and the image tag has no version`,
  );
}

export async function readDbFacts(sql: SQL): Promise<DbFacts> {
  const tables = await ownedPublicTables(sql);
  // A key table disguised as a view (or handed to another role) is refused, not counted.
  for (const t of KEY_TABLES) await hasOwnedTable(sql, t);
  const [ver] = await sql<{ v: string }[]>`SELECT current_setting('server_version') AS v`;
  const rowCounts: Record<string, number> = {};
  for (const t of KEY_TABLES.filter((k) => tables.includes(k))) {
    const [row] = (await sql.unsafe(`SELECT count(*)::text AS n FROM public.${quoteIdent(t, "table")}`)) as {
      n: string;
    }[];
    rowCounts[t] = Number(row?.n ?? 0);
  }
  let modules: DbFacts["modules"] = [];
  let baseVersion: string | null = null;
  let baseInstalled = false;
  if (tables.includes("ir_module_module")) {
    modules = await sql<{ name: string; version: string | null }[]>`
      SELECT name, latest_version AS version FROM public.ir_module_module WHERE state = 'installed' ORDER BY name`;
    modules = modules.map((m) => ({ name: m.name, version: m.version }));
    const base = modules.find((m) => m.name === "base");
    baseInstalled = base !== undefined;
    baseVersion = base?.version ?? null;
  }
  return {
    modules,
    rowCounts,
    tableCount: tables.length,
    serverVersion: ver?.v ?? "unknown",
    odooSeries: odooSeries(baseVersion),
    baseInstalled,
  };
}
