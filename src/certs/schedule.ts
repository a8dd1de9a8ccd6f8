/**
 * The daily certificate check: the same renewal request as `odooops certs renew` without an
 * env (due ACME certificates and envs still without one; never a second job for an env with
 * one pending; imported certificates only reported), for the envs the coordinator runs itself:
 * an env placed on an agent is renewed by its agent's clock (src/daemon/agent-local.ts).
 */
import type { CoordinatorDeps } from "../deps";
import type { Schedule } from "../jobs/schedule";
import { Log } from "../log";
import { startCertsRenew } from "./service";

const log = Log.create("certs");

/** Off the hour: Let's Encrypt asks clients not to pile onto round times. */
export const RENEWAL_PATTERN = "0 41 3 * * *";

export function renewCertificatesTick(deps: CoordinatorDeps, now: Date = new Date()) {
  const out = startCertsRenew(deps, { force: false }, "scheduler", now, true);
  for (const q of out.queued)
    log.info("certificate renewal queued", { env: q.env, domain: q.domain, reason: q.reason, job: q.job?.id });
  for (const s of out.skipped)
    if (s.attention) log.warn("certificate needs attention", { env: s.env, domain: s.domain, reason: s.reason });
  return out;
}

export function certRenewalSchedule(): Schedule {
  return { name: "certs.renew", pattern: RENEWAL_PATTERN, tick: (deps) => void renewCertificatesTick(deps) };
}
