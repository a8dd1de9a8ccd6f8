/**
 * SQL neutralization of a non-production copy: what `odoo neutralize` does for the tables every
 * Odoo has, plus what a copy needs to not impersonate its source. Used when the env's image
 * cannot run `odoo neutralize` (Odoo < 16) and always after it, for the parts it leaves out:
 * crons and outgoing/incoming mail servers off, `web.base.url` = the target's URL, a new
 * `database.uuid` and `database.secret` (sessions, signed links and the IAP/OAuth identity of the
 * source stop being valid on the copy). One transaction, as the copy's own role: the copy's
 * triggers fire with that role's rights, never the admin's.
 */
import { randomBytes } from "node:crypto";
import { hasOwnedTable, ownedPublicTables, withTenant, type TenantLogin } from "../../host/postgres/tenant";
import type { Logger } from "../../log";

/**
 * Odoo's own `neutralize` (mail module, Odoo ≥ 16) deactivates every mail server and inserts an
 * active dummy on host `invalid`, so that mail goes nowhere instead of to odoo.conf's SMTP server.
 * That one is neutral: it is left active here and the PII check accepts it. Anything else
 * active (another host, or credentials on it) is a real server.
 */
export const NEUTRAL_MAIL_SERVER_SQL =
  "(smtp_host = 'invalid' AND coalesce(smtp_user, '') = '' AND coalesce(smtp_pass, '') = '')";

export interface NeutralizeReport {
  cronsDisabled: number;
  mailServersDisabled: number;
  fetchmailServersDisabled: number;
  params: Record<string, string>;
}

export async function neutralizeDatabase(
  login: TenantLogin,
  opts: { baseUrl: string },
  log: Logger,
): Promise<NeutralizeReport> {
  const db = login.database;
  const params: Record<string, string> = {
    "web.base.url": opts.baseUrl,
    "database.uuid": crypto.randomUUID(),
    "database.secret": randomBytes(32).toString("hex"),
    "database.is_neutralized": "True",
  };
  const report = await withTenant(login, (sql) =>
    sql.begin(async (tx) => {
      const tables = new Set(await ownedPublicTables(tx));
      const off = async (table: string, unless = "false") => {
        if (!tables.has(table)) return 0;
        const r = await tx.unsafe(`UPDATE public.${table} SET active = false WHERE active AND NOT ${unless}`);
        return r.count ?? 0;
      };
      const cronsDisabled = await off("ir_cron");
      const mailServersDisabled = await off("ir_mail_server", NEUTRAL_MAIL_SERVER_SQL);
      const fetchmailServersDisabled = await off("fetchmail_server");
      // A view in its place would keep the source's identity: refused, not skipped.
      if (await hasOwnedTable(tx, "ir_config_parameter")) {
        for (const [key, value] of Object.entries(params)) {
          const r =
            await tx`UPDATE public.ir_config_parameter SET value = ${value}, write_date = now() AT TIME ZONE 'UTC' WHERE key = ${key}`;
          if ((r.count ?? 0) === 0) {
            await tx`INSERT INTO public.ir_config_parameter (key, value, create_date, write_date)
                     VALUES (${key}, ${value}, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')`;
          }
        }
      }
      return { cronsDisabled, mailServersDisabled, fetchmailServersDisabled };
    }),
  );
  log.info("database neutralized", { db, ...report, baseUrl: opts.baseUrl });
  return { ...report, params: { "web.base.url": opts.baseUrl, "database.is_neutralized": "True" } };
}
