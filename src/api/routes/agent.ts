/**
 * The agent API: what agents call on the coordinator's HTTPS agent listener (never the user API's
 * listener). Authenticated with the agent's own credential (src/fleet/credentials.ts), which is
 * worth nothing on the user API; user tokens are worth nothing here. Join is the one call
 * without a credential: it spends a one-time join token.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { z } from "zod";
import { AppError, Forbidden, Invalid, issuesText } from "../../errors";
import { authenticateAgent, enrollHost, type HostRow, issueCredential, recordHeartbeat } from "../../fleet/hosts";
import {
  AGENT_API_BASE,
  AgentJobReport,
  FinishRequest,
  HeartbeatRequest,
  type HeartbeatResponse,
  JobHeartbeatRequest,
  JoinRequest,
  LateFinish,
  LeaseRequest,
  LogRequest,
  type MirrorChanges,
  StepRequest,
} from "../../fleet/schema";
import { applyAgentChanges, decisionsFor, sliceFor } from "../../fleet/mirror-apply";
import { StreamChunk } from "../../fleet/log-relay";
import { issueTicket, openTicket } from "../../fleet/transfer-grant";
import { FetchRequest, RefuseRequest, TicketRequest } from "../../fleet/transfer-relay";
import { takeAgentJobReport } from "../../fleet/agent-jobs";
import { takeLateFinish } from "../../fleet/late-finish";
import { drTestFinish } from "../../dr/remote-result";
import { type JobOutcome, LeaseLost } from "../../jobs/queue";
import { withSealedSecrets } from "../../jobs/secrets";
import { peerAddress } from "../conn";
import type { CoordinatorDeps } from "../../deps";
import { errorBody, onError } from "../errors";

type AgentEnv = { Variables: { host: HostRow } };

async function body<T extends z.ZodType>(req: Request, schema: T): Promise<z.infer<T>> {
  const raw = await req.json().catch(() => {
    throw new Invalid("expected a JSON body");
  });
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new Invalid(issuesText(parsed.error));
  return parsed.data;
}

/** `closing`: aborted when the daemon begins to stop; a pending long poll then answers at once. */
export function createAgentApp(deps: CoordinatorDeps, closing?: AbortSignal) {
  const { db, fleet } = deps;
  const app = new Hono<AgentEnv>().basePath(AGENT_API_BASE);
  const limit = bodyLimit({
    maxSize: 4 * 1024 * 1024,
    onError: (c) => c.json(errorBody("payload_too_large", "request body over 4 MiB"), 413),
  });
  // A relayed transfer's file is streamed through, never held: its size is the pack's.
  app.use("*", (c, next) => (c.req.path.startsWith(`${AGENT_API_BASE}/transfers/upload/`) ? next() : limit(c, next)));

  app.post("/join", async (c) => {
    const req = await body(c.req.raw, JoinRequest);
    const ip = peerAddress(c);
    try {
      const { host, credential } = enrollHost(db, { token: req.token, name: req.name, address: ip });
      recordHeartbeat(db, host.id, { inventory: req.inventory, containers: [] });
      deps.audit.record({ actor: `host:${host.name}`, action: "host.join", target: host.name, ip });
      return c.json({ hostId: host.id, name: host.name, credential, heartbeatSec: fleet.heartbeatSec }, 201);
    } catch (e) {
      deps.audit.record({
        actor: "anonymous",
        action: "host.join",
        target: req.name,
        outcome: "failed",
        ip,
        details: { error: e instanceof Error ? e.message : String(e) },
      });
      throw e;
    }
  });

  // Everything below needs the agent's credential.
  app.use("*", async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const bearer = header.toLowerCase().startsWith("bearer ") ? header.slice(7).trim() : undefined;
    c.set("host", authenticateAgent(db, bearer));
    return next();
  });

  /** The answer to a heartbeat, on its own route (agents that predate beats on the lease) or on a lease. */
  const beatAnswer = (host: HostRow): z.infer<typeof HeartbeatResponse> => ({
    heartbeatSec: fleet.heartbeatSec,
    ...(host.credentialRotationRequestedAt !== null ? { rotateCredential: true } : {}),
  });

  app.post("/heartbeat", async (c) => {
    const beat = await body(c.req.raw, HeartbeatRequest);
    const host = c.get("host");
    recordHeartbeat(db, host.id, beat);
    return c.json(beatAnswer(host), 200);
  });

  app.post("/credential", (c) => {
    const host = c.get("host");
    const credential = issueCredential(db, host.id);
    deps.audit.record({ actor: `host:${host.name}`, action: "host.credential.rotate", target: host.name });
    return c.json({ credential }, 200);
  });

  // Jobs: the JobChannel over HTTP. An agent leases only its own host's jobs, and acts only
  // under owners that start with its host id, so it can never touch another agent's lease.
  const ownOwner = (host: HostRow, owner: string) => {
    if (!owner.startsWith(`${host.id}:`)) throw new Forbidden(`lease owner must start with this agent's host id`);
    return owner;
  };
  /**
   * What the job changed in the agent's copy of the state, applied through the owners once the
   * caller is known to hold the lease. A change the host has no authority for is refused as a
   * whole (403, audited): nothing of the report is written, and neither is the step or the finish.
   */
  /** `fn`, auditing a refusal (Forbidden) as `host.state.refused`. */
  const refusedAudited = <T>(host: HostRow, jobId: string, fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof Forbidden)
        deps.audit.record({
          actor: `host:${host.name}`,
          action: "host.state.refused",
          target: deps.jobs.queue.row(jobId).target ?? jobId,
          outcome: "failed",
          details: { job: jobId, error: e.message },
        });
      throw e;
    }
  };
  const takeChanges = (host: HostRow, jobId: string, owner: string, changes: MirrorChanges | undefined) => {
    const job = deps.jobs.queue.row(jobId);
    if (job.status !== "running" || job.leaseOwner !== owner)
      throw new LeaseLost(`job ${jobId} is no longer leased by ${owner}`);
    if (changes) refusedAudited(host, jobId, () => applyAgentChanges(db, deps.box, host.id, changes));
  };
  /** The agent opened its result's secrets (sealed with its own box): they are sealed again with this one. */
  const withSecrets = (outcome: JobOutcome, secrets: Record<string, string> | undefined): JobOutcome => {
    if (outcome.status !== "succeeded" || !secrets) return outcome;
    const sealed = Object.fromEntries(Object.entries(secrets).map(([k, v]) => [k, deps.box.seal(v)]));
    return { status: "succeeded", result: withSealedSecrets(outcome.result ?? {}, sealed) };
  };

  /** Per lease owner, the cancels already told on a lease: each is told once. */
  const toldCancels = new Map<string, Set<string>>();
  /** The running jobs of `owner` asked to stop and not yet told on a lease. */
  const cancelsToTell = (owner: string): string[] => {
    const requested = deps.jobs.queue.cancelsRequested(owner);
    // Only jobs still running stay remembered: the map holds what is in flight, nothing more.
    const told = new Set([...(toldCancels.get(owner) ?? [])].filter((id) => requested.includes(id)));
    const fresh = requested.filter((id) => !told.has(id));
    for (const id of fresh) told.add(id);
    if (told.size > 0) toldCancels.set(owner, told);
    else toldCancels.delete(owner);
    return fresh;
  };

  /**
   * A job for the host, a log stream to serve, the jobs this owner runs that were asked to stop
   * (when the agent understands `{cancel}`: `tellCancels`), or null once `waitMs` passed with
   * none of them.
   */
  const leaseOrWait = async (
    host: HostRow,
    owner: string,
    leaseMs: number,
    waitMs: number,
    signal: AbortSignal,
    tellCancels = false,
  ) => {
    const agent = { hostId: host.id, owner };
    const queue = deps.jobs.queue;
    const until = Date.now() + waitMs;
    let wake: () => void = () => undefined;
    const offCancels = tellCancels ? deps.jobs.events.onCancelRequested(() => wake()) : () => undefined;
    try {
      for (;;) {
        // The daemon is stopping: nothing more is leased, and the state database is about to close.
        if (closing?.aborted) return null;
        // A job of this owner asked to stop is told now: its heartbeat would tell it an interval later.
        const cancel = tellCancels ? cancelsToTell(owner) : [];
        if (cancel.length > 0) return { cancel };
        // A log reader waiting on this host is answered first: it is a person watching.
        const stream = fleet.logs.take(host.id) ?? fleet.files.take(host.id);
        if (stream) return { stream };
        const leased = await queue.lease(agent, leaseMs, { onlyHost: true });
        // The job runs against the agent's own state database: the rows it may need go with it.
        if (leased) return { ...leased, state: sliceFor(db, deps.box, host, leased.job) };
        if (Date.now() >= until || signal.aborted) return null;
        // Long poll: wake when a job is queued (or a lock frees) or one is cancelled, else at the deadline.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, Math.max(0, until - Date.now()));
          const off = deps.jobs.events.onQueued(done);
          const offStream = fleet.logs.onRequested(host.id, done);
          const offFile = fleet.files.onRequested(host.id, done);
          closing?.addEventListener("abort", done);
          wake = done;
          function done() {
            clearTimeout(timer);
            off();
            offStream();
            offFile();
            closing?.removeEventListener("abort", done);
            wake = () => undefined;
            resolve();
          }
        });
      }
    } finally {
      offCancels();
    }
  };
  app.post("/jobs/lease", async (c) => {
    const host = c.get("host");
    const req = await body(c.req.raw, LeaseRequest);
    const owner = ownOwner(host, req.owner);
    if (!req.heartbeat)
      return c.json(await leaseOrWait(host, owner, req.leaseMs, req.waitMs, c.req.raw.signal, req.cancels), 200);
    // Recorded before the wait, which ends by the time the next beat is due: while the agent
    // long-polls, its last heartbeat is never older than one interval.
    recordHeartbeat(db, host.id, req.heartbeat);
    const waitMs = Math.min(req.waitMs, fleet.heartbeatSec * 1000);
    const lease = await leaseOrWait(host, owner, req.leaseMs, waitMs, c.req.raw.signal, req.cancels);
    return c.json({ heartbeat: beatAnswer(host), lease }, 200);
  });
  app.post("/jobs/:id/heartbeat", async (c) => {
    const req = await body(c.req.raw, JobHeartbeatRequest);
    const owner = ownOwner(c.get("host"), req.owner);
    if (req.state) takeChanges(c.get("host"), c.req.param("id"), owner, req.state);
    const r = await deps.jobs.queue.heartbeat(c.req.param("id"), owner, req.leaseMs);
    return c.json({ ...r, decisions: decisionsFor(db, deps.jobs.queue.row(c.req.param("id"))) }, 200);
  });
  app.post("/jobs/:id/step", async (c) => {
    const req = await body(c.req.raw, StepRequest);
    const owner = ownOwner(c.get("host"), req.owner);
    takeChanges(c.get("host"), c.req.param("id"), owner, req.state);
    await deps.jobs.queue.step(c.req.param("id"), owner, req.idx, req.patch);
    return c.json({}, 200);
  });
  app.post("/jobs/:id/log", async (c) => {
    const req = await body(c.req.raw, LogRequest);
    await deps.jobs.queue.log(c.req.param("id"), ownOwner(c.get("host"), req.owner), req.lines);
    return c.json({}, 200);
  });
  app.post("/jobs/:id/finish", async (c) => {
    const req = await body(c.req.raw, FinishRequest);
    const host = c.get("host");
    const owner = ownOwner(host, req.owner);
    const jobId = c.req.param("id");
    // A DR test's record is checked before anything of the report is written.
    const recordDrTest = refusedAudited(host, jobId, () =>
      drTestFinish(deps, host, deps.jobs.queue.row(jobId), req.outcome),
    );
    takeChanges(host, jobId, owner, req.state);
    await deps.jobs.queue.finish(jobId, owner, withSecrets(req.outcome, req.secrets));
    recordDrTest?.();
    return c.json({}, 200);
  });

  // A leased job's finish the agent could not send while this coordinator was away.
  app.post("/jobs/late-finish", async (c) => {
    const host = c.get("host");
    const { secrets, ...report } = await body(c.req.raw, LateFinish);
    const outcome = withSecrets(report.outcome, secrets);
    return refusedAudited(host, report.jobId, () => {
      const decision = takeLateFinish(deps, host, { ...report, outcome });
      // A DR test that ran while this coordinator was away is recorded like one reported in time.
      if (decision.take) drTestFinish(deps, host, deps.jobs.queue.row(report.jobId), outcome)?.();
      return c.json(decision, 200);
    });
  });

  // The output of a stream this host took from its lease; `open: false` tells it to stop.
  app.post("/streams/:id", async (c) => {
    const chunk = await body(c.req.raw, StreamChunk);
    return c.json({ open: fleet.logs.push(c.get("host").id, c.req.param("id"), chunk) }, 200);
  });

  // A relayed transfer (src/fleet/transfer-relay.ts). The target's restore asks for a ticket,
  // then spends it on the file; every refusal is audited and sends nothing.
  const refusedTicket = async <T>(host: HostRow, what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof AppError && (e.status === 403 || e.status === 410))
        deps.audit.record({
          actor: `host:${host.name}`,
          action: "transfer.refused",
          target: what,
          outcome: "denied",
          details: { error: e.message },
        });
      throw e;
    }
  };
  app.post("/transfers/ticket", async (c) => {
    const host = c.get("host");
    const req = await body(c.req.raw, TicketRequest);
    const ticket = await refusedTicket(host, req.jobId, async () => issueTicket(deps, host.id, req.jobId, req.file));
    return c.json({ ticket }, 200);
  });
  app.post("/transfers/fetch", async (c) => {
    const host = c.get("host");
    const { ticket } = await body(c.req.raw, FetchRequest);
    const stream = await refusedTicket(host, "ticket", () => openTicket(deps, host.id, ticket));
    return new Response(stream, { status: 200, headers: { "content-type": "application/octet-stream" } });
  });
  // The source's host sends the file it was asked for; answered once the target read it all.
  app.post("/transfers/upload/:id", async (c) => {
    const raw = c.req.raw.body;
    const piped = raw ? fleet.files.upload(c.get("host").id, c.req.param("id"), raw) : false;
    if (piped === false) return c.json(errorBody("not_found", "nobody waits for this upload"), 404);
    // A reader that went away ends the upload too; the target's restore reports why.
    return c.json(
      {
        delivered: await piped.then(
          () => true,
          () => false,
        ),
      },
      200,
    );
  });
  app.post("/transfers/refuse/:id", async (c) => {
    const { error } = await body(c.req.raw, RefuseRequest);
    return c.json({ refused: fleet.files.refuse(c.get("host").id, c.req.param("id"), error) }, 200);
  });

  // A job the agent ran by itself (its envs' scheduled backups), reported once it ended.
  app.post("/jobs/reports", async (c) => {
    const host = c.get("host");
    const report = await body(c.req.raw, AgentJobReport);
    try {
      const adopted = takeAgentJobReport(deps, host, report);
      if (adopted)
        deps.audit.record({
          actor: `host:${host.name}`,
          action: report.job.kind,
          target: report.job.target,
          outcome: report.job.status === "succeeded" ? "ok" : "failed",
          details: { job: report.job.id, scheduled: true },
        });
      return c.json({ adopted }, 200);
    } catch (e) {
      if (e instanceof Forbidden)
        deps.audit.record({
          actor: `host:${host.name}`,
          action: "host.state.refused",
          target: report.job.target ?? report.job.id,
          outcome: "failed",
          details: { job: report.job.id, error: e.message },
        });
      throw e;
    }
  });

  app.notFound((c) => c.json(errorBody("not_found", `no route ${c.req.method} ${c.req.path}`), 404));
  app.onError(onError);
  return app;
}
