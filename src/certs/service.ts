/**
 * What the API, the CLI and the daily renewal ask of certificates: the listing (store + envs),
 * renewal requests (planned with the same rules everywhere, never a second job while one is
 * pending for the env) and imports (validated before anything is queued).
 */
import { and, asc, eq, ne } from "drizzle-orm";
import type { CoordinatorDeps, Deps } from "../deps";
import { environments, type Environment } from "../env/env.sql";
import { findEnv } from "../env/lookup";
import { errorText } from "../errors";
import { activeJobs } from "../jobs/lookup";
import type { JobRow } from "../jobs/queue";
import type { JobView } from "../jobs/view";
import type { Db } from "../state/db";
import { isDomain } from "./domain";
import { assertAcmeEnabled, tlsByDefault } from "./env-cert";
import { certImportJob, certIssueJob } from "./issue-job";
import { daysLeft, needsRenewal, planRenewals, type RenewalDecision } from "./renewal";
import type { CertificateView, ImportRequest, RenewItem, RenewOutcome, RenewRequest } from "./schema";
import { storedCertificates, loadCertificate, type StoredCertificate } from "./store";
import { validatePair } from "./validate";
import { requireCreated } from "../env/guards";
import { isCreated } from "../env/vocabulary";
import { placedOnAgent } from "../env/placed-on-agent";
import type { JobService } from "../jobs/service";

const CERT_JOB_KINDS = [certIssueJob.kind, certImportJob.kind];

/** The queued or running certificate job of an env, if any. */
export function pendingCertJob(db: Db, envId: string): JobRow | undefined {
  return activeJobs(db, { kinds: CERT_JOB_KINDS, lockKey: envId })[0];
}

function liveEnvs(db: Db): Environment[] {
  return db
    .select()
    .from(environments)
    .where(ne(environments.status, "destroyed"))
    .orderBy(asc(environments.slug))
    .all();
}

function storedFor(deps: Pick<Deps, "paths">, env: Environment): StoredCertificate | null {
  return isDomain(env.domain) ? loadCertificate(deps.paths.certsDir, env.domain) : null;
}

function status(cert: StoredCertificate, now: Date, renewDays: number): CertificateView["status"] {
  if (cert.info.notAfter.getTime() <= now.getTime()) return "expired";
  return needsRenewal(cert.info, now, renewDays) ? "expiring" : "valid";
}

/** Every stored certificate, plus the envs that should have one and do not. */
export function listCertificates(
  deps: Pick<Deps, "db" | "config" | "paths">,
  now: Date = new Date(),
): CertificateView[] {
  const envs = liveEnvs(deps.db);
  const byDomain = new Map(envs.map((e) => [e.domain, e]));
  const renewDays = deps.config.acme.renewDays;
  const pending = (env: Environment | undefined) => (env ? (pendingCertJob(deps.db, env.id)?.id ?? null) : null);
  const views: CertificateView[] = storedCertificates(deps.paths.certsDir).map(({ domain, cert, error }) => {
    const env = byDomain.get(domain);
    const base = { domain, env: env?.slug ?? null, tier: env?.tier ?? null, pendingJob: pending(env) };
    if (!cert)
      return {
        ...base,
        source: null,
        serial: null,
        issuer: null,
        notAfter: null,
        daysLeft: null,
        status: "unreadable" as const,
        detail: error ?? "unreadable",
      };
    const [decision] = planRenewals([{ domain, info: cert.info, source: cert.meta.source }], now, { days: renewDays });
    return {
      ...base,
      source: cert.meta.source,
      serial: cert.info.serial,
      issuer: cert.info.issuer,
      notAfter: cert.info.notAfter.toISOString(),
      daysLeft: daysLeft(cert.info, now),
      status: status(cert, now, renewDays),
      detail: env ? decision.reason : `${decision.reason}; no live environment uses this domain`,
    };
  });
  const stored = new Set(views.map((v) => v.domain));
  for (const env of envs) {
    if (stored.has(env.domain) || !tlsByDefault(deps.config, env.tier) || !isCreated(env.status)) continue;
    views.push({
      domain: env.domain,
      env: env.slug,
      tier: env.tier,
      source: null,
      serial: null,
      issuer: null,
      notAfter: null,
      daysLeft: null,
      status: "missing",
      detail: env.httpFallbackReason ?? "no certificate yet",
      pendingJob: pending(env),
    });
  }
  return views.sort((a, b) => a.domain.localeCompare(b.domain));
}

function item(env: Environment, reason: string, job: JobView | null = null, attention = false): RenewItem {
  return { env: env.slug, domain: env.domain, reason, job, attention };
}

function enqueueIssue(deps: CoordinatorDeps, env: Environment, force: boolean, reason: string, actor: string): JobView {
  const job = deps.jobs.enqueue(
    certIssueJob,
    { envId: env.id, slug: env.slug, force, requestedAt: new Date().toISOString() },
    actor,
  );
  deps.audit.record({
    actor,
    action: "certs.renew",
    target: env.slug,
    details: { domain: env.domain, force, reason, job: job.id },
  });
  return job;
}

function decisionFor(
  config: Pick<Deps["config"], "acme">,
  env: Environment,
  cert: StoredCertificate | null,
  now: Date,
  force: boolean,
): RenewalDecision {
  const [d] = planRenewals([{ domain: env.domain, info: cert?.info ?? null, source: cert?.meta.source }], now, {
    days: config.acme.renewDays,
    force,
  });
  return d;
}

/** A live env by name, slug or domain (certificates are named by domain). */
function envByNameOrDomain(db: Db, name: string): Environment {
  const byDomain = db
    .select()
    .from(environments)
    .where(and(eq(environments.domain, name), ne(environments.status, "destroyed")))
    .get();
  return byDomain ?? findEnv(db, name);
}

function renewOne(deps: CoordinatorDeps, req: RenewRequest & { env: string }, actor: string, now: Date): RenewOutcome {
  const env = envByNameOrDomain(deps.db, req.env);
  const out: RenewOutcome = { queued: [], pending: [], skipped: [] };
  requireCreated(env, "certificates are issued for active or stopped environments");
  const pending = pendingCertJob(deps.db, env.id);
  if (pending) {
    out.pending.push(item(env, `a certificate job is already ${pending.status}`, deps.jobs.queue.view(pending.id)));
    return out;
  }
  const cert = storedFor(deps, env);
  if (req.force) {
    const reason =
      cert?.meta.source === "imported" ? "forced: replaces the imported certificate with one from the CA" : "forced";
    out.queued.push(item(env, reason, enqueueIssue(deps, env, true, reason, actor)));
    return out;
  }
  const d = decisionFor(deps.config, env, cert, now, false);
  if (d.action === "renew") out.queued.push(item(env, d.reason, enqueueIssue(deps, env, false, d.reason, actor)));
  else if (cert?.meta.source === "imported")
    out.skipped.push(item(env, `${d.reason} (--force replaces it with one from the CA)`, null, d.action === "manual"));
  else out.skipped.push(item(env, `${d.reason}; nothing to do (--force renews anyway)`));
  return out;
}

/** What a renewal sweep needs: the coordinator's deps, or an agent's own (src/daemon/agent-local.ts). */
export type RenewalDeps = Pick<Deps, "db" | "config" | "paths"> & { jobs: Pick<JobService, "queue"> };

export interface RenewalSweep {
  force: boolean;
  now: Date;
  /** The envs this sweep is for (each env's certificates are renewed by exactly one clock). */
  owns(env: Environment): boolean;
  /** Queues the renewal of one env and says so. */
  enqueue(env: Environment, reason: string): JobView;
}

/**
 * Envs the all-environments renewal looks at: TLS by default for the tier, or a certificate
 * already; only those the sweep owns.
 */
export function renewDue(deps: RenewalDeps, sweep: RenewalSweep): RenewOutcome {
  const { force, now } = sweep;
  const out: RenewOutcome = { queued: [], pending: [], skipped: [] };
  for (const env of liveEnvs(deps.db)) {
    if (!isCreated(env.status) || !sweep.owns(env)) continue;
    if (!isDomain(env.domain)) {
      if (tlsByDefault(deps.config, env.tier))
        out.skipped.push(item(env, `${env.domain} is not a name a certificate can be issued for`, null, true));
      continue;
    }
    let cert: StoredCertificate | null;
    try {
      cert = storedFor(deps, env);
    } catch (e) {
      // One broken store entry must not stop the renewal of every other env.
      out.skipped.push(item(env, errorText(e), null, true));
      continue;
    }
    if (!cert && !tlsByDefault(deps.config, env.tier)) continue;
    const pending = pendingCertJob(deps.db, env.id);
    if (pending) {
      out.pending.push(item(env, `a certificate job is already ${pending.status}`, deps.jobs.queue.view(pending.id)));
      continue;
    }
    const d = decisionFor(deps.config, env, cert, now, force);
    if (d.action === "renew") out.queued.push(item(env, d.reason, sweep.enqueue(env, d.reason)));
    else out.skipped.push(item(env, d.reason, null, d.action === "manual"));
  }
  return out;
}

/** Every env, or (the coordinator's daily sweep) only those not renewed by their own agent. */
function renewAll(deps: CoordinatorDeps, force: boolean, actor: string, now: Date, onlyOwn: boolean): RenewOutcome {
  return renewDue(deps, {
    force,
    now,
    owns: (env) => !onlyOwn || !placedOnAgent(env.hostId, deps.fleet.localHostId),
    enqueue: (env, reason) => enqueueIssue(deps, env, force, reason, actor),
  });
}

/**
 * Queues `certs.issue` for one env or for every env that needs it. Imported certificates are
 * left alone (reported as skipped, "manual" once they expire soon) unless one env is named with
 * force.
 */
export function startCertsRenew(
  deps: CoordinatorDeps,
  req: RenewRequest,
  actor: string,
  now: Date = new Date(),
  /** The daily sweep: envs placed on agents are their agents' to renew (src/env/placed-on-agent.ts). */
  onlyOwn = false,
): RenewOutcome {
  assertAcmeEnabled(deps.config);
  return req.env !== undefined
    ? renewOne(deps, { ...req, env: req.env }, actor, now)
    : renewAll(deps, req.force, actor, now, onlyOwn);
}

/** Validates a bring-your-own certificate for the env's domain, then queues storing and serving it. */
export function startCertsImport(deps: CoordinatorDeps, req: ImportRequest, actor: string): JobView {
  const env = findEnv(deps.db, req.env);
  requireCreated(env, "a certificate can be imported for an active or stopped environment");
  const fullchainPem = req.chainPem ? `${req.certPem.trimEnd()}\n${req.chainPem.trimStart()}` : req.certPem;
  const info = validatePair({ domain: env.domain, fullchainPem, privkeyPem: req.keyPem });
  const job = deps.jobs.enqueue(
    certImportJob,
    { envId: env.id, slug: env.slug, fullchainPem, keyEnc: deps.box.seal(req.keyPem) },
    actor,
  );
  deps.audit.record({
    actor,
    action: "certs.import",
    target: env.slug,
    details: { domain: env.domain, serial: info.serial, notAfter: info.notAfter.toISOString(), job: job.id },
  });
  return job;
}
