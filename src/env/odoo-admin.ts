/**
 * Odoo's own logins of an env: a fresh database knows `admin/admin` (and `demo/demo` with demo
 * data), so odooops replaces them before the env is served. Written as the env's OWN role, never
 * the superuser: the database belongs to the tenant, whose code may have put triggers on
 * `res_users`; with the env role they run with no more rights than the tenant already has.
 */
import { randomSecret } from "../auth/secretbox";
import { odooPasswordHash } from "../db/backup/anonymize";
import { Conflict } from "../errors";
import { withTenant } from "../host/postgres/tenant";
import type { Deps } from "../deps";
import type { Environment } from "./env.sql";
import { envDbLogin } from "./tenant-login";

export const ODOO_ADMIN_LOGIN = "admin";

/** A random Odoo password (24 URL-safe characters). */
export function newOdooPassword(): string {
  return randomSecret(18);
}

export interface SetPasswordOptions {
  /** Every other user with a password gets one nobody knows (fresh databases: demo, portal). */
  lockOthers: boolean;
}

/**
 * Sets `admin`'s password hash (passlib pbkdf2-sha512, what Odoo 16–18 verify) in the env's
 * database, in a tenant session (host/postgres/tenant.ts): the env's role, a pinned search_path,
 * qualified names.
 */
export async function setOdooAdminPassword(
  deps: Pick<Deps, "config" | "box">,
  env: Pick<Environment, "slug" | "dbName" | "dbUser" | "dbPasswordEnc">,
  password: string,
  opts: SetPasswordOptions,
): Promise<{ others: number }> {
  return withTenant(envDbLogin(deps, env), (sql) =>
    sql.begin(async (tx) => {
      const admin =
        await tx`UPDATE public.res_users SET password = ${odooPasswordHash(password)} WHERE login = ${ODOO_ADMIN_LOGIN}`;
      if (admin.count !== 1)
        throw new Conflict(
          `database ${env.dbName} of ${env.slug} has no user "${ODOO_ADMIN_LOGIN}"; its admin password cannot be set`,
        );
      if (!opts.lockOthers) return { others: 0 };
      const others = await tx`UPDATE public.res_users SET password = ${odooPasswordHash(randomSecret(24))}
        WHERE login <> ${ODOO_ADMIN_LOGIN} AND password IS NOT NULL AND password <> ''`;
      return { others: others.count ?? 0 };
    }),
  );
}
