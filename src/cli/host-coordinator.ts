/**
 * `host add`'s view of the coordinator (CoordinatorSeam) over the API: the CLI runs on the
 * coordinator as an admin. The only place host add names the fleet's routes.
 */
import { NotFound, Unavailable } from "../errors";
import type { CoordinatorSeam } from "../fleet/add/host-add";
import type { ApiClient } from "./client";

const POLL_MS = 2_000;

export function apiCoordinator(api: ApiClient): CoordinatorSeam {
  const host = async (name: string) => {
    try {
      return await api.get("/hosts/{name}", { params: { name } });
    } catch (e) {
      if (e instanceof NotFound) return null;
      throw e;
    }
  };
  return {
    host,
    // The API takes the TTL as text (90s, 15m, 2h): whole seconds say it exactly.
    issueJoinToken: (opts) =>
      api.post("/hosts/tokens", {
        body: { name: opts.name, labels: opts.labels, ttl: `${Math.round(opts.ttlMs / 1000)}s` },
      }),
    async waitForHeartbeat(name, { since, timeoutMs }) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const at = (await host(name))?.lastHeartbeatAt ?? null;
        if (at && Date.parse(at) >= Date.parse(since)) return { at };
        if (Date.now() > deadline)
          throw new Unavailable(
            `no heartbeat from ${name} within ${Math.round(timeoutMs / 1000)} s: see \`journalctl -u odooops\` on the host`,
          );
        await Bun.sleep(POLL_MS);
      }
    },
  };
}
