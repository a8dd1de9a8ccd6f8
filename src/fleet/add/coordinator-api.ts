/**
 * CoordinatorSeam over the API (the CLI runs on the coordinator, as an admin). The routes are
 * the fleet's (hosts table, join tokens): this file is the only place host add names them.
 */
import type { ApiClient } from "../../cli/client";
import { NotFound, Unavailable } from "../../errors";
import type { CoordinatorSeam } from "./host-add";

const POLL_MS = 2_000;

export function apiCoordinator(api: ApiClient): CoordinatorSeam {
  const host = async (name: string) => {
    try {
      return await api.get<{ lastHeartbeatAt: string | null }>(`/hosts/${encodeURIComponent(name)}`);
    } catch (e) {
      if (e instanceof NotFound) return null;
      throw e;
    }
  };
  return {
    host,
    issueJoinToken: (opts) => api.post(`/hosts/join-tokens`, opts),
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
