/** Whether the daemon answers its health endpoint. */
import { existsSync, readFileSync } from "node:fs";
import { z } from "zod";
import type { Paths } from "../config/paths";
import { errorText } from "../errors";
import { type Check, fail, fix, type Hint, pass, skip } from "./check";
import { odooopsArgv } from "./context";

/** `http://host:port` for a `listen` address; a wildcard listen is reached on loopback. */
export function apiBaseUrl(listen: string): string {
  const i = listen.lastIndexOf(":");
  const host = listen.slice(0, i);
  const port = listen.slice(i + 1);
  const reach =
    host === "0.0.0.0" || host === ""
      ? "127.0.0.1"
      : host === "::" || host === "[::]"
        ? "[::1]"
        : host.includes(":") && !host.startsWith("[")
          ? `[${host}]`
          : host;
  return `http://${reach}:${port}`;
}

const HealthBody = z.object({ status: z.string(), version: z.string(), uptimeSec: z.number(), role: z.string() });
export type Health = z.infer<typeof HealthBody>;

export type HealthProbe = { ok: true; health: Health } | { ok: false; error: string };

/** GET <base>/api/v1/health: ok only for HTTP 200 with status "ok". */
export async function fetchHealth(base: string, timeoutMs = 5_000): Promise<HealthProbe> {
  const url = `${base.replace(/\/+$/, "")}/api/v1/health`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = HealthBody.safeParse(await res.json().catch(() => null));
    if (!body.success)
      return { ok: false, error: `${url} answered HTTP ${res.status} without an odooops health document` };
    if (res.status !== 200 || body.data.status !== "ok")
      return { ok: false, error: `${url} reports ${body.data.status} (HTTP ${res.status})` };
    return { ok: true, health: body.data };
  } catch (e) {
    return {
      ok: false,
      error: `no answer at ${url}: ${(e as Error).name === "TimeoutError" ? `timed out after ${timeoutMs} ms` : errorText(e, { code: true })}`,
    };
  }
}

/** Starts the daemon: its unit where systemd runs, else `odooops serve` (which stays in the foreground). */
export function daemonStartHint(systemd: boolean, paths: Paths): Hint {
  return systemd
    ? fix(["systemctl", "start", "odooops"], "logs: journalctl -u odooops -e")
    : fix(
        odooopsArgv(paths, "serve"),
        "it runs in the foreground: keep it running; systemd is not PID 1 here, so nothing starts it at boot",
      );
}

export const daemonCheck: Check = {
  id: "daemon",
  title: "daemon reachable",
  async run(ctx) {
    // The running daemon records where it really listens; the config says where it should.
    const recorded = existsSync(ctx.paths.daemonUrlFile) ? readFileSync(ctx.paths.daemonUrlFile, "utf8").trim() : "";
    if (!recorded && !ctx.config) return skip("config invalid: listen address unknown");
    const base = recorded || apiBaseUrl(ctx.config?.listen ?? "");
    const r = await fetchHealth(base);
    if (!r.ok) return fail(r.error, daemonStartHint(ctx.systemd, ctx.paths));
    return pass(`${base} answers: odooops ${r.health.version}, ${r.health.role}, up ${r.health.uptimeSec} s`);
  },
};
