/**
 * When to renew. Pure functions of (certificate info, now): the daily croner job, `certs list`
 * and `doctor` all ask the same question and must agree.
 */
import { sanCovers } from "./domain";
import type { CertInfo } from "./info";
import type { CertSource } from "./store";

export const DEFAULT_RENEW_DAYS = 30;
const DAY_MS = 86_400_000;

/** Whole days until notAfter (negative once expired). */
export function daysLeft(info: Pick<CertInfo, "notAfter">, now: Date): number {
  return Math.floor((info.notAfter.getTime() - now.getTime()) / DAY_MS);
}

/** True when fewer than `days` days of validity remain (or the certificate has expired). */
export function needsRenewal(info: Pick<CertInfo, "notAfter">, now: Date, days: number = DEFAULT_RENEW_DAYS): boolean {
  return info.notAfter.getTime() - now.getTime() < days * DAY_MS;
}

export interface RenewalInput {
  domain: string;
  /** null: the domain has no certificate yet. */
  info: Pick<CertInfo, "notAfter" | "sans"> | null;
  /** "imported" (bring-your-own) certificates are never replaced by ACME behind the user's back. */
  source?: CertSource;
}

export type RenewalAction = "renew" | "keep" | "manual";

export interface RenewalDecision {
  domain: string;
  action: RenewalAction;
  reason: string;
  daysLeft: number | null;
}

export interface PlanOptions {
  days?: number;
  /** Renew even when still valid: every ACME domain (true) or the listed ones. */
  force?: boolean | readonly string[];
}

function decide(item: RenewalInput, now: Date, days: number, forced: boolean): RenewalDecision {
  const { domain, info } = item;
  if (!info) return { domain, action: "renew", reason: "no certificate yet", daysLeft: null };
  const left = daysLeft(info, now);
  const due = needsRenewal(info, now, days);
  if (item.source === "imported") {
    if (due)
      return {
        domain,
        action: "manual",
        reason:
          left < 0
            ? `imported certificate expired ${-left} day(s) ago; import a new one`
            : `imported certificate expires in ${left} day(s); import a new one`,
        daysLeft: left,
      };
    return { domain, action: "keep", reason: `imported certificate, valid for ${left} more day(s)`, daysLeft: left };
  }
  if (!sanCovers(info.sans, domain))
    return { domain, action: "renew", reason: "certificate does not cover the domain", daysLeft: left };
  if (left < 0 || info.notAfter.getTime() <= now.getTime())
    return { domain, action: "renew", reason: `expired ${Math.max(1, -left)} day(s) ago`, daysLeft: left };
  if (forced) return { domain, action: "renew", reason: "forced", daysLeft: left };
  if (due)
    return { domain, action: "renew", reason: `expires in ${left} day(s) (renewing below ${days})`, daysLeft: left };
  return { domain, action: "keep", reason: `valid for ${left} more day(s)`, daysLeft: left };
}

/** One decision per domain, most urgent first (no certificate, then soonest expiry). */
export function planRenewals(items: readonly RenewalInput[], now: Date, opts: PlanOptions = {}): RenewalDecision[] {
  const days = opts.days ?? DEFAULT_RENEW_DAYS;
  const force = opts.force ?? false;
  const isForced = (d: string) => (typeof force === "boolean" ? force : force.includes(d));
  return items
    .map((item) => decide(item, now, days, isForced(item.domain)))
    .sort((a, b) => (a.daysLeft ?? -Infinity) - (b.daysLeft ?? -Infinity) || a.domain.localeCompare(b.domain));
}

/** Domains the plan says to renew now. */
export function domainsToRenew(plan: readonly RenewalDecision[]): string[] {
  return plan.filter((d) => d.action === "renew").map((d) => d.domain);
}
