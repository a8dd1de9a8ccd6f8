/**
 * Requests through nginx all along an operation (a deploy's switch, a credential rotation): how
 * many answered 200 and what each other answer was. Sequential, 50 ms apart, no pooled socket.
 */
import type { startEnvHost } from "./env-host";

type Host = Awaited<ReturnType<typeof startEnvHost>>;

export function probeThroughNginx(host: Host, domain: string, path = "/web/health") {
  let stop = false;
  let ok = 0;
  const failures: string[] = [];
  const loop = (async () => {
    while (!stop) {
      try {
        const r = await host.viaNginx(domain, path);
        if (r.status === 200) ok++;
        else failures.push(`HTTP ${r.status}`);
        await r.arrayBuffer();
      } catch (e) {
        failures.push(String(e));
      }
      await Bun.sleep(50);
    }
  })();
  return {
    async end() {
      stop = true;
      await loop;
      return { ok, failures };
    },
  };
}
