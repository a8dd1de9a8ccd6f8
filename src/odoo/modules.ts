/** The modules an Odoo database has, as `ir_module_module` records them. */
import { AppError, Unavailable, errorText } from "../errors";
import { hasOwnedTable, withTenant, type TenantLogin } from "../host/postgres/tenant";

export interface InstalledModule {
  state: string;
  latestVersion: string | null;
}

/** States in which a module's code is loaded and its data is in the database. */
const INSTALLED_STATES = new Set(["installed", "to upgrade", "to remove"]);

export function isInstalled(m: InstalledModule | undefined): boolean {
  return m !== undefined && INSTALLED_STATES.has(m.state);
}

/**
 * Every row of `ir_module_module` in the env's database, read as the env's role. A database
 * without Odoo's tables (never initialised) has no modules: an empty map, so the plan installs
 * what the config asks for. A `public.ir_module_module` that is not the role's table is refused.
 */
export async function installedModules(login: TenantLogin): Promise<Map<string, InstalledModule>> {
  try {
    return await withTenant(login, async (sql) => {
      if (!(await hasOwnedTable(sql, "ir_module_module"))) return new Map();
      const rows = await sql<{ name: string; state: string; latest_version: string | null }[]>`
        SELECT name, state, latest_version FROM public.ir_module_module ORDER BY name`;
      return new Map(rows.map((r) => [r.name, { state: r.state, latestVersion: r.latest_version }]));
    });
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw new Unavailable(
      `cannot read the modules of database ${login.database} on ${login.host}:${login.port} as ${login.user}: ${errorText(e)}`,
    );
  }
}
