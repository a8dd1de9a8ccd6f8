/**
 * What a browser would get from an env through nginx. Polled for a while: on a loaded test
 * machine the stand-in's own database probe (3 s timeout) can miss once right after a start.
 */
import type { startEnvHost } from "../support/env-host";

type Host = Awaited<ReturnType<typeof startEnvHost>>;

export async function answer(
  host: Host,
  domain: string,
  path: string,
  timeoutMs = 30_000,
): Promise<{ status: number; body: string }> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await host.viaNginx(domain, path).catch((e: unknown) => ({ status: 0, text: async () => String(e) }));
    const out = { status: res.status, body: (await res.text()).slice(0, 300) };
    if (out.status === 200 || Date.now() > until) return out;
    await Bun.sleep(250);
  }
}
