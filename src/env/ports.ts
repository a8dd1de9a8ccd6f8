/**
 * Loopback ports for Odoo containers come in pairs (http, longpolling) from the configured
 * range; a pair is free when no live env or release holds it and nothing listens on it.
 */
import { Conflict } from "../errors";

export async function isPortFree(port: number): Promise<boolean> {
  try {
    const server = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
    server.stop(true);
    return true;
  } catch {
    return false;
  }
}

export async function allocatePortPair(
  range: { from: number; to: number },
  taken: Set<number>,
): Promise<[number, number]> {
  for (let p = range.from; p + 1 <= range.to; p += 2) {
    if (taken.has(p) || taken.has(p + 1)) continue;
    if ((await isPortFree(p)) && (await isPortFree(p + 1))) return [p, p + 1];
  }
  throw new Conflict(`no free port pair left in ${range.from}-${range.to} (config ports.from/ports.to)`);
}
