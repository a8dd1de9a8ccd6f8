/**
 * The CLI end of `--via ssh://…` (or ODOOOPS_VIA): only the transport changes, the API client
 * and every command stay as they are. The key comes from ODOOOPS_VIA_IDENTITY or the SSH agent;
 * the coordinator's host key must be in ~/.ssh/known_hosts or pinned with ODOOOPS_VIA_FINGERPRINT.
 */
import type { Fetch } from "./client";
import { parseVia, sshFetch } from "../fleet/ssh/via";

/** Parsed at the first request, so a bad value is reported like any other command error. */
export function viaTransport(value: string, env: Record<string, string | undefined>): { fetch: Fetch; close(): void } {
  let t: ReturnType<typeof sshFetch> | null = null;
  return {
    fetch: (input, init) => {
      t ??= sshFetch(
        parseVia(value),
        { identityFile: env.ODOOOPS_VIA_IDENTITY || undefined, fingerprint: env.ODOOOPS_VIA_FINGERPRINT || undefined },
        env,
      );
      return t.fetch(input, init);
    },
    close: () => t?.close(),
  };
}
