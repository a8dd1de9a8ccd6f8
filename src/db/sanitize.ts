/**
 * What a copy of another env's database goes through before any Odoo serves it: anonymization
 * with the PII check, neutralization (non-production targets), and in every case a new identity
 * (its own URL, `database.uuid` and `database.secret`): two live databases must never share one.
 * Everything runs as the role that owns the copy (the target env's), never as the admin: the
 * copy is the source tenant's data and code (views, triggers).
 */
import { randomBytes } from "node:crypto";
import { Invalid } from "../errors";
import { hasOwnedTable, withTenant, type TenantLogin } from "../host/postgres/tenant";
import type { Logger } from "../log";
import { checkCopyState, checkPii, collectNeedles, type SourceNeedles } from "./anonymize/check";
import {
  anonymizeDatabase,
  loadAnonymizeRules,
  neutralizeDatabase,
  readDbFacts,
  type AnonymizeRules,
  type PiiNeedles,
} from "./backup";

export interface SanitizePlan {
  anonymize: boolean;
  neutralize: boolean;
  /** Another env's data: a new identity even when not neutralized. */
  rebase: boolean;
  /** The target env's URL (web.base.url). */
  baseUrl: string;
  /**
   * A non-production target: `web.base.url` = its URL and `web.base.url.freeze`, or the first
   * admin login rewrites it to whatever URL that browser used (res.users.authenticate, an admin's login).
   */
  freezeBaseUrl?: boolean;
  /** The project's rules (see anonymize-rules.ts); the shipped defaults when not given. */
  rules?: AnonymizeRules;
  /** The password every user of an anonymized copy gets (required to anonymize). */
  devPassword?: string;
  /**
   * The rows were anonymized while copied (db/anonymize/copy.ts): nothing is rewritten here, the
   * PII check reads its needles from the source (read-only, as the source's role).
   */
  anonymizedFrom?: { source: TenantLogin; tables: string[]; piiExclude: string[] };
  /**
   * The source database as its own role: where the PII check's needles come from. Without it
   * (and without `anonymizedFrom`), the copy is read before anonymizing (only right when the copy
   * is a raw copy of the source).
   */
  sourceLogin?: TenantLogin;
  /** The copy's filestore, scanned by the PII check too. */
  filestoreDir?: string | null;
}

export interface SanitizeReport {
  anonymized: { tables: string[]; piiChecked: { emails: number; phones: number } } | null;
  neutralized: { cronsDisabled: number; mailServersDisabled: number } | null;
  baseUrl: string;
  /** "17.0"; decides whether `odoo neutralize` can run (Odoo ≥ 16). */
  odooSeries: string | null;
}

/** A new identity without neutralizing (a copy that becomes production). */
async function rebase(login: TenantLogin, baseUrl: string): Promise<void> {
  await withTenant(login, async (sql) => {
    if (!(await hasOwnedTable(sql, "ir_config_parameter"))) return;
    await sql.begin(async (tx) => {
      for (const [key, value] of [
        ["web.base.url", baseUrl],
        ["database.uuid", crypto.randomUUID()],
        ["database.secret", randomBytes(32).toString("hex")],
      ]) {
        await tx`UPDATE public.ir_config_parameter SET value = ${value}, write_date = now() AT TIME ZONE 'UTC' WHERE key = ${key}`;
      }
    });
  });
}

/** Upserts: a copy made by an old Odoo, or one never logged into, may have neither key. */
async function freezeBaseUrl(login: TenantLogin, baseUrl: string): Promise<void> {
  await withTenant(login, async (sql) => {
    if (!(await hasOwnedTable(sql, "ir_config_parameter"))) return;
    await sql.begin(async (tx) => {
      for (const [key, value] of [
        ["web.base.url", baseUrl],
        ["web.base.url.freeze", "True"],
      ]) {
        const r =
          await tx`UPDATE public.ir_config_parameter SET value = ${value}, write_date = now() AT TIME ZONE 'UTC' WHERE key = ${key}`;
        if ((r.count ?? 0) === 0) {
          await tx`INSERT INTO public.ir_config_parameter (key, value, create_date, write_date)
                   VALUES (${key}, ${value}, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')`;
        }
      }
    });
  });
}

/** `login`: the role that owns the copy, into the copy. */
export async function sanitizeCopy(login: TenantLogin, plan: SanitizePlan, log: Logger): Promise<SanitizeReport> {
  return withTenant(login, async (sql) => {
    let anonymized: SanitizeReport["anonymized"] = null;
    // Only what the state check needs is kept; the e-mails and phones live in the matcher.
    let state: Pick<PiiNeedles, "identity" | "passwordHashes"> | null = null;
    if (plan.anonymize) {
      let tables: string[];
      let exclude: string[];
      let needles: SourceNeedles;
      if (plan.anonymizedFrom) {
        ({ needles, state } = await withTenant(plan.anonymizedFrom.source, (src) => collectNeedles(src, log)));
        ({ tables, piiExclude: exclude } = plan.anonymizedFrom);
      } else {
        if (!plan.devPassword) throw new Invalid("anonymizing a copy needs its own dev password");
        const rules = plan.rules ?? loadAnonymizeRules();
        ({ needles, state } = plan.sourceLogin
          ? await withTenant(plan.sourceLogin, (src) => collectNeedles(src, log))
          : await collectNeedles(sql, log));
        tables = (await anonymizeDatabase(login, rules, log, plan.devPassword)).tables.map((t) => t.table);
        exclude = rules.piiCheck.exclude;
      }
      await checkPii(sql, login, needles, { exclude, filestoreDir: plan.filestoreDir ?? null }, log);
      anonymized = { tables, piiChecked: { emails: needles.emails, phones: needles.phones } };
    }
    let neutralized: SanitizeReport["neutralized"] = null;
    if (plan.neutralize) {
      const r = await neutralizeDatabase(login, { baseUrl: plan.baseUrl }, log);
      neutralized = { cronsDisabled: r.cronsDisabled, mailServersDisabled: r.mailServersDisabled };
    } else if (plan.rebase) {
      await rebase(login, plan.baseUrl);
    }
    if (plan.freezeBaseUrl) await freezeBaseUrl(login, plan.baseUrl);
    // After neutralizing: what would let the copy act as its source (crons, mail, identity, hashes).
    if (state) await checkCopyState(sql, state, { neutralized: plan.neutralize, rebased: plan.rebase }, log);
    const facts = await readDbFacts(sql);
    return { anonymized, neutralized, baseUrl: plan.baseUrl, odooSeries: facts.odooSeries };
  });
}

/** Odoo ≥ 16 has `odoo neutralize`. */
export function hasNeutralizeCommand(series: string | null): boolean {
  const major = Number(/^(?:saas~)?(\d+)\./.exec(series ?? "")?.[1] ?? "0");
  return major >= 16;
}
