/**
 * What an agent does by itself, with or without its coordinator: the scheduled backups and the
 * daily certificate renewals of the envs placed on it (the coordinator leaves them to it,
 * src/db/schedule-owner.ts), run from
 * its own queue in its own state database, and the reports of those jobs sent to the
 * coordinator from the outbox whenever it answers. Its own config decides the schedules and the
 * backup targets, as it decides every backup its envs make.
 */
import { Cron } from "croner";
import type { Config } from "../config/schema";
import type { Paths } from "../config/paths";
import type { SecretBox } from "../auth/secretbox";
import { backupJob, backupTargets } from "../db/backup-job";
import { backups } from "../db/backup.sql";
import { dueTiers } from "../db/schedule";
import { environments } from "../env/env.sql";
import { AppError, errorText } from "../errors";
import { MirrorLink } from "../fleet/mirror";
import { ReportingChannel } from "./local-channel";
import { Outbox } from "./outbox";
import { backoff, wakeableLoop } from "./backoff-loop";
import { agentBackupPlan } from "../db/schedule-owner";
import { certIssueJob } from "../certs/issue-job";
import { RENEWAL_PATTERN } from "../certs/schedule";
import { renewDue } from "../certs/service";
import { Agent } from "../jobs/agent";
import type { AgentTransport } from "../jobs/http-channel";
import type { KeyGate } from "../jobs/key-gate";
import { activeJobs } from "../jobs/lookup";
import { JobRegistry } from "../jobs/registry";
import { JobService } from "../jobs/service";
import { Log } from "../log";
import type { Db } from "../state/db";

const log = Log.create("agent");

/** Longest wait between two tries to hand the outbox over. */
const MAX_REPORT_BACKOFF_MS = 60_000;

/**
 * A refusal the coordinator will give again however often it is asked (the report is wrong for
 * it); anything else — unreachable, 5xx, a credential being rotated — is tried again later.
 */
export function reportRefused(status: number): boolean {
  return status === 400 || status === 403 || status === 413 || status === 422;
}

export interface LocalWorkOptions {
  db: Db;
  config: Config;
  paths: Paths;
  box: SecretBox;
  hostId: string;
  transport: AgentTransport;
  gate: KeyGate;
  now?: () => Date;
}

export function startLocalWork(opts: LocalWorkOptions) {
  const { db, config, paths, box, hostId, transport } = opts;
  const clock = opts.now ?? (() => new Date());
  const jobs = new JobService(db, paths.jobLogsDir, new JobRegistry([backupJob, certIssueJob]), hostId);
  const identity = { hostId, owner: `${hostId}:local-${process.pid}-${Bun.randomUUIDv7().slice(-8)}` };
  // A backup this agent was running when it stopped resumes now, like a leased job would.
  jobs.queue.recover({ hostId, currentOwner: identity.owner });
  const outbox = new Outbox(paths);

  // Declared before the reporter loop exists: the runner's channel pokes it once a report is waiting.
  const poke = () => reporter.wake();
  const runner = new Agent({
    identity,
    channel: new ReportingChannel(jobs.queue, new MirrorLink({ db, box }, hostId), outbox, poke),
    registry: jobs.registry,
    deps: { db, config, paths, box },
    gate: opts.gate,
    pollMs: 1_000,
  });
  const unsubscribe = jobs.events.onQueued(() => runner.poke());
  runner.start();

  /** Enqueues the backups that came due between the previous tick and `now`. */
  let last = clock();
  const tick = (now: Date = clock()) => {
    const due = dueTiers(config.backups.schedules, last, now);
    last = now;
    if (!due.length) return { enqueued: [] as string[], busy: [] as string[] };
    const envs = db
      .select({
        id: environments.id,
        slug: environments.slug,
        tier: environments.tier,
        status: environments.status,
        hostId: environments.hostId,
        dbName: environments.dbName,
      })
      .from(environments)
      .all();
    const busy = new Set(activeJobs(db, { kinds: [backupJob.kind] }).map((j) => j.lockKey ?? ""));
    const plan = agentBackupPlan(envs, hostId, due, busy);
    const enqueued: string[] = [];
    for (const env of plan.backup) {
      try {
        backupTargets({ config, paths });
        const row = db
          .insert(backups)
          .values({ envId: env.id, kind: "scheduled", status: "running", dbName: env.dbName })
          .returning()
          .get();
        jobs.enqueue(backupJob, { envId: env.id, slug: env.slug, backupId: row.id }, "scheduler");
        enqueued.push(env.slug);
      } catch (e) {
        log.warn("scheduled backup not started", { env: env.slug, error: errorText(e) });
      }
    }
    log.info("scheduled backups", {
      tiers: due.join(","),
      enqueued: enqueued.join(","),
      stillRunning: plan.busy.join(","),
    });
    return { enqueued, busy: plan.busy };
  };
  // Unnamed: croner's names are process-wide, and tests run several agents in one process.
  const cron = new Cron("0 * * * * *", { timezone: "UTC", protect: true }, () => {
    try {
      tick();
    } catch (e) {
      log.error("scheduled backups failed", { error: errorText(e) });
    }
  });

  /**
   * Queues the renewal of its envs' certificates that are due (the coordinator's daily sweep
   * skips them), by the same rules as `odooops certs renew`.
   */
  const renewCerts = (now: Date = clock()) => {
    const out = renewDue(
      { db, config, paths, jobs },
      {
        force: false,
        now,
        owns: (env) => env.hostId === hostId,
        enqueue: (env, reason) => {
          const job = jobs.enqueue(
            certIssueJob,
            { envId: env.id, slug: env.slug, force: false, requestedAt: now.toISOString() },
            "scheduler",
          );
          log.info("certificate renewal queued", { env: env.slug, domain: env.domain, reason, job: job.id });
          return job;
        },
      },
    );
    for (const s of out.skipped)
      if (s.attention) log.warn("certificate needs attention", { env: s.env, domain: s.domain, reason: s.reason });
    return out;
  };
  const certCron = config.acme.enabled
    ? new Cron(RENEWAL_PATTERN, { timezone: "UTC", protect: true }, () => {
        try {
          renewCerts();
        } catch (e) {
          log.error("certificate renewals failed", { error: errorText(e) });
        }
      })
    : null;

  /** Hands every waiting report over, oldest first; false when the coordinator could not be reached. */
  const flush = async (): Promise<boolean> => {
    for (const jobId of outbox.pending()) {
      try {
        const r = await transport.post<{ adopted: boolean }>("/jobs/reports", outbox.read(jobId));
        outbox.taken(jobId);
        log.info("reported a job run without the coordinator", { job: jobId, adopted: r.adopted });
      } catch (e) {
        if (e instanceof AppError && reportRefused(e.status)) {
          outbox.refused(jobId);
          log.error("the coordinator refused a job report; kept beside the outbox", {
            job: jobId,
            dir: outbox.dir,
            error: errorText(e),
          });
          continue;
        }
        return false;
      }
    }
    return true;
  };
  // Reachable: wait for the next report (or a periodic look); not: back off.
  const reporter = wakeableLoop(async (delay) =>
    (await flush()) ? MAX_REPORT_BACKOFF_MS : backoff(delay, 2_000, MAX_REPORT_BACKOFF_MS),
  );

  return {
    queue: jobs.queue,
    outbox,
    tick,
    renewCerts,
    /** Tries the outbox now (the coordinator answered a heartbeat again). */
    poke,
    async stop() {
      cron.stop();
      certCron?.stop();
      unsubscribe();
      await Promise.all([reporter.stop(), runner.stop()]);
    },
  };
}
