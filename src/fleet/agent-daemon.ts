/**
 * `odooops serve` with `role: agent`: joins the coordinator once with the join file `init --role
 * agent` wrote (the credential goes to state/agent.json, the join file is removed), then
 * heartbeats with its inventory and containers, backing off while the coordinator is away. It
 * serves no user API: everything it does, it asks the coordinator for.
 */
import { hostname } from "node:os";
import type { Config } from "../config/schema";
import type { Paths } from "../config/paths";
import { Invalid } from "../errors";
import { readJoin, removeJoin } from "../init/join";
import { errorText } from "../jobs/runner";
import { Log } from "../log";
import { type AgentState, readAgentState, writeAgentState } from "./agent-state";
import { CoordinatorClient, fetchPinnedCert } from "./coordinator-client";
import { collectContainers, collectInventory } from "./inventory";
import { decodeJoinToken } from "./join-token";

const log = Log.create("agent");

/** Longest wait between two tries while the coordinator does not answer. */
const MAX_BACKOFF_MS = 60_000;

export interface AgentDaemonOptions {
  paths: Paths;
  config: Config;
  /** The name asked for when joining (a name in the token wins); default the machine's host name. */
  name?: string;
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

export async function startAgentDaemon(opts: AgentDaemonOptions) {
  const { paths, config } = opts;
  const state = readAgentState(paths) ?? (await join(paths, config, opts.name ?? hostname()));
  const client = new CoordinatorClient(state, state.credential);

  let stopped = false;
  let wake: (() => void) | null = null;
  let intervalMs = config.fleet.heartbeatSec * 1000;
  const beat = async () => {
    const [inventory, containers] = await Promise.all([collectInventory(config, paths), collectContainers(config)]);
    const r = await client.post<{ heartbeatSec: number }>("/heartbeat", { inventory, containers });
    // The coordinator's interval decides when it calls a host offline: follow it.
    intervalMs = r.heartbeatSec * 1000;
  };
  const loop = (async () => {
    let delay = 0;
    let failing = false;
    while (!stopped) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = null;
      if (stopped) break;
      try {
        await beat();
        if (failing) log.info("coordinator reachable again", { url: state.url });
        failing = false;
        delay = intervalMs;
      } catch (e) {
        if (!failing) log.warn("heartbeat failed; retrying with backoff", { url: state.url, error: errorText(e) });
        failing = true;
        delay = Math.min(Math.max(delay * 2, intervalMs), MAX_BACKOFF_MS);
      }
    }
  })();
  log.info("agent started", { host: state.name, coordinator: state.url, root: paths.dataDir });

  return {
    hostId: state.hostId,
    name: state.name,
    paths,
    config,
    async stop() {
      stopped = true;
      (wake as (() => void) | null)?.();
      await loop;
    },
  };
}
