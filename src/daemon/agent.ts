/**
 * `odooops serve` with `role: agent`: joins the coordinator once with the join file `init --role
 * agent` wrote (the credential goes to state/agent.json, the join file is removed), then
 * heartbeats with its inventory and containers, backing off while the coordinator is away, and
 * runs the jobs the coordinator leases to its host over the HTTP JobChannel. The heartbeats ride
 * the lease long-poll (src/fleet/pulse.ts): one connection to the coordinator per idle agent. It
 * serves no user API. Its job steps get a state database of its own (`state/odooops.db`), not the coordinator's:
 * the state link (src/fleet/mirror.ts) fills it with the rows of this host's envs from each lease
 * and sends back what the jobs changed. Its envs' scheduled backups are its own (agent-local.ts):
 * they run whether or not the coordinator answers, and are reported when it does.
 */
import { hostname } from "node:os";
import type { z } from "zod";
import type { Config } from "../config/schema";
import type { Paths } from "../config/paths";
import { AppError, Invalid, errorText } from "../errors";
import { readJoin, removeJoin } from "../init/join";
import { SecretBox } from "../auth/secretbox";
import { JOB_KINDS } from "./job-kinds";
import { Agent } from "../jobs/agent";
import type { AnyJobDef } from "../jobs/define";
import { HttpJobChannel, LEASE_WAIT_MS } from "../jobs/http-channel";
import { shutdownJobTracing } from "../jobs/tracing";
import { MirrorLink } from "../fleet/mirror";
import { JobRegistry } from "../jobs/registry";
import { openState } from "../state/db";
import { Log } from "../log";
import { type AgentState, readAgentState, writeAgentState } from "./agent-state";
import { CoordinatorClient, fetchPinnedCert } from "../fleet/coordinator-client";
import { collectContainers, collectInventory } from "../fleet/inventory";
import { envDiskReporter } from "../env/disk-report";
import { decodeJoinToken } from "../fleet/join-token";
import { HeartbeatResponse } from "../fleet/schema";
import { LeasePulse } from "../fleet/pulse";
import { serveLogStream } from "../fleet/log-stream";
import { sweepTransfers } from "../db/clone-transfer/relay-dir";
import { isFileRequest, sendTransferFile, ticketFetch } from "../fleet/transfer-send";
import { KeyGate } from "../jobs/key-gate";
import { startLocalWork } from "./agent-local";
import { backoff, wakeableLoop } from "./backoff-loop";
import { removeLeftoverCopies } from "./leftovers";
import { LeasedOutbox } from "./outbox";

const log = Log.create("agent");

type Beat = z.infer<typeof HeartbeatResponse>;

/** Longest wait between two tries while the coordinator does not answer. */
const MAX_BACKOFF_MS = 60_000;

export interface AgentDaemonOptions {
  paths: Paths;
  config: Config;
  /** The name asked for when joining (a name in the token wins); default the machine's host name. */
  name?: string;
  /** Job kinds beyond the built-in ones (tests register probes). */
  extraJobs?: AnyJobDef[];
}

async function join(paths: Paths, config: Config, name: string): Promise<AgentState> {
  const details = readJoin(paths);
  if (!details)
    throw new Invalid(
      "this agent has not joined a coordinator: run `odooops init --role agent --join-url … --join-token …` (token from `odooops host token create` on the coordinator)",
    );
  const token = decodeJoinToken(details.token);
  const certPem = await fetchPinnedCert(token.url, token.fingerprint);
  const link = { url: token.url, fingerprint: token.fingerprint, certPem };
  const joined = await new CoordinatorClient(link, null).post<{ hostId: string; name: string; credential: string }>(
    "/join",
    { token: details.token, name, inventory: await collectInventory(config, paths) },
  );
  const state: AgentState = { ...link, hostId: joined.hostId, name: joined.name, credential: joined.credential };
  writeAgentState(paths, state);
  // The token is spent: nothing reusable stays beside the config.
  removeJoin(paths);
  log.info("joined the coordinator", { url: token.url, host: joined.name });
  return state;
}

/** Joins, retrying with backoff while the coordinator cannot be reached; a refusal (4xx) ends it. */
async function joinWithRetry(paths: Paths, config: Config, name: string): Promise<AgentState> {
  let delay = 1_000;
  for (;;) {
    try {
      return await join(paths, config, name);
    } catch (e) {
      if (!(e instanceof AppError) || e.status < 500) throw e;
      log.warn("cannot join yet; retrying", { error: e.message, inMs: delay });
      await Bun.sleep(delay);
      delay = Math.min(delay * 2, MAX_BACKOFF_MS);
    }
  }
}

export async function startAgentDaemon(opts: AgentDaemonOptions) {
  const { paths, config } = opts;
  const state = readAgentState(paths) ?? (await joinWithRetry(paths, config, opts.name ?? hostname()));
  const client = new CoordinatorClient(state, state.credential);

  const db = openState(paths.stateDb);
  const box = SecretBox.fromFile(paths.secretKeyFile);
  // Before any job runs: a leased job of a killed process resumes from nothing (or never comes
  // back, its DR test's copy named from params this host kept no row of).
  await removeLeftoverCopies({ db, config, paths });
  // Leased jobs and the agent's own backups never run on one env at the same time.
  const gate = new KeyGate();
  const local = startLocalWork({ db, config, paths, box, hostId: state.hostId, transport: client, gate });

  let intervalMs = config.fleet.heartbeatSec * 1000;
  const envDisk = envDiskReporter({ db, config, paths }, state.hostId);
  // Beats ride the runner's lease long-poll (one connection to the coordinator); a beat no lease
  // takes (every job slot busy) goes on its own.
  const pulse = new LeasePulse(() => runner.poke());
  const beat = async () => {
    const [inventory, containers, disk] = await Promise.all([
      collectInventory(config, paths),
      collectContainers(config),
      envDisk(),
    ]);
    const body = { inventory, containers, envDisk: disk };
    const r = HeartbeatResponse.parse(await pulse.send(body, intervalMs, () => client.post<Beat>("/heartbeat", body)));
    // The coordinator's interval decides when it calls a host offline: follow it.
    intervalMs = r.heartbeatSec * 1000;
    if (r.rotateCredential) {
      await switchCredential();
      // The first request with the new credential makes the coordinator refuse the old one.
      await client.post<Beat>("/heartbeat", body);
      log.info("switched to a new agent credential; the old one is refused");
    }
  };
  /** Kept on disk before use: a crash after this restarts with the new one (the old still works until it is used). */
  const switchCredential = async () => {
    const { credential } = await client.post<{ credential: string }>("/credential", {});
    state.credential = credential;
    writeAgentState(paths, state);
    client.useCredential(credential);
  };
  const stopping = new AbortController();
  // A carried beat is answered when its long-poll ends: stopping does not wait for that.
  const halted = new Promise<void>((resolve) => stopping.signal.addEventListener("abort", () => resolve()));
  let failing = false;
  // The runner's leases end by the time a beat is due, so the beat finds one to ride.
  pulse.expect(Date.now());
  const beats = wakeableLoop(async (delay) => {
    const startedAt = Date.now();
    let next: number;
    try {
      await Promise.race([beat(), halted]);
      if (stopping.signal.aborted) return 0;
      if (failing) {
        log.info("coordinator reachable again", { url: state.url });
        local.poke();
      }
      failing = false;
      // From the beat's start: a carried beat is answered only when its long-poll ends.
      next = Math.max(0, startedAt + intervalMs - Date.now());
    } catch (e) {
      if (stopping.signal.aborted) return 0;
      if (!failing) log.warn("heartbeat failed; retrying with backoff", { url: state.url, error: errorText(e) });
      failing = true;
      next = backoff(delay, intervalMs, MAX_BACKOFF_MS);
    }
    pulse.expect(Date.now() + next);
    return next;
  });
  // Log streams the coordinator relays to its readers (logs -f of this host's envs).
  const streams = new Set<Promise<void>>();
  const onStream = (request: unknown) => {
    // Or a relayed transfer's file this host is the source of (src/fleet/transfer-relay.ts).
    const s = (
      isFileRequest(request)
        ? sendTransferFile(client, { config, paths }, request, stopping.signal)
        : serveLogStream(client, { config, paths }, request, stopping.signal)
    ).finally(() => streams.delete(s));
    streams.add(s);
  };
  // A relayed clone's pack does not survive a restart (its restore fails and the chain cleans up).
  await sweepTransfers(paths);
  const channel = new HttpJobChannel(
    client,
    LEASE_WAIT_MS,
    new MirrorLink({ db, box }, state.hostId),
    onStream,
    new LeasedOutbox(paths),
    pulse,
  );
  const runner = new Agent({
    identity: { hostId: state.hostId, owner: `${state.hostId}:${process.pid}:${Bun.randomUUIDv7().slice(-8)}` },
    channel,
    registry: new JobRegistry([...JOB_KINDS, ...(opts.extraJobs ?? [])]),
    deps: { db, config, paths, box, fetchTransfer: ticketFetch(client) },
    gate,
    pollMs: 1_000,
  });
  // A cancel the coordinator tells on the lease long-poll stops the job now, not at its next heartbeat.
  channel.onCancel((id) => runner.cancel(id));
  runner.start();
  log.info("agent started", { host: state.name, coordinator: state.url, root: paths.dataDir });

  return {
    hostId: state.hostId,
    name: state.name,
    paths,
    config,
    /** The agent's own scheduled backups: tests tick its clock and read its queue and outbox. */
    local,
    async stop() {
      pulse.cancel();
      stopping.abort();
      await Promise.all([beats.stop(), runner.stop(), local.stop(), ...streams]);
      await shutdownJobTracing();
      db.$client.close();
    },
  };
}
