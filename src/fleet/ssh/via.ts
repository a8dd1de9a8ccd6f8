/**
 * `--via ssh://user@coordinator[:port]`: the CLI's HTTP requests carried over SSH. Each request
 * is one exec channel running `odooops api-stdio` on the coordinator as the SSH user, which
 * forwards it to the local daemon with THAT user's local credential (see ../../cli/commands/
 * api-stdio.ts). Framing, both ways: one JSON line (request: method, path, headers; response:
 * status, headers), then the raw body until EOF. The API port never leaves the coordinator.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { Invalid, Unavailable } from "../../errors";
import { SshSession, type SshTarget } from "./connection";

/** The CLI client's transport (cli/client.ts), which this replaces with requests over SSH. */
type Fetch = (url: string, init?: RequestInit) => Promise<Response>;

export interface ViaTarget {
  username: string;
  host: string;
  port: number;
}

export function parseVia(value: string): ViaTarget {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new Invalid(`--via ${JSON.stringify(value)}: expected ssh://user@host[:port]`);
  }
  if (u.protocol !== "ssh:" || !u.hostname || (u.pathname !== "" && u.pathname !== "/") || u.search || u.password)
    throw new Invalid(`--via ${JSON.stringify(value)}: expected ssh://user@host[:port] (no password, path or query)`);
  return {
    username: decodeURIComponent(u.username) || "root",
    host: u.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: u.port ? Number(u.port) : 22,
  };
}

/** The remote program: `odooops` from the SSH user's PATH (the installer's /usr/local/bin). */
export const API_STDIO_ARGV = ["odooops", "api-stdio"];

export interface RequestHead {
  method: string;
  path: string;
  headers: Record<string, string>;
}
export interface ResponseHead {
  status: number;
  headers: Record<string, string>;
}

function headersOf(h: RequestInit["headers"]): Record<string, string> {
  return Object.fromEntries(new Headers(h).entries());
}

async function bodyBytes(body: RequestInit["body"]): Promise<Uint8Array | undefined> {
  if (body === undefined || body === null) return undefined;
  return new Uint8Array(await new Response(body).arrayBuffer());
}

/** A Fetch over one SSH connection, opened at the first request; `close()` ends it. */
export function sshFetch(
  via: ViaTarget,
  opts: { identityFile?: string; fingerprint?: string; knownHostsFiles?: string[] },
  env: Record<string, string | undefined>,
): { fetch: Fetch; close(): void } {
  let session: Promise<SshSession> | null = null;
  const target: SshTarget = {
    ...via,
    identityFile: opts.identityFile,
    fingerprint: opts.fingerprint,
    knownHostsFiles: opts.knownHostsFiles ?? [join(env.HOME || homedir(), ".ssh", "known_hosts")],
  };
  const fetch: Fetch = async (input, init = {}) => {
    session ??= SshSession.connect(target, env);
    const s = await session;
    const url = new URL(input);
    // The remote side decides who we are; a bearer token from this side has no say there.
    const headers = headersOf(init.headers);
    delete headers.authorization;
    const head: RequestHead = { method: init.method ?? "GET", path: `${url.pathname}${url.search}`, headers };
    const body = await bodyBytes(init.body);
    let stderr = "";
    let exitCode: number | null = null;
    let onHead: (h: ResponseHead) => void = () => {};
    let onFail: (e: Error) => void = () => {};
    const gotHead = new Promise<ResponseHead>((resolve, reject) => {
      onHead = resolve;
      onFail = reject;
    });
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
      },
      cancel() {
        ch.close();
      },
    });
    let buf = new Uint8Array(0);
    let headDone = false;
    const ch = await s.channel(API_STDIO_ARGV, (c) => {
      c.on("data", (d: Buffer) => {
        if (headDone) return controller.enqueue(new Uint8Array(d));
        const joined = new Uint8Array(buf.length + d.length);
        joined.set(buf);
        joined.set(d, buf.length);
        buf = joined;
        const nl = buf.indexOf(10);
        if (nl < 0) return;
        headDone = true;
        try {
          onHead(JSON.parse(new TextDecoder().decode(buf.subarray(0, nl))) as ResponseHead);
        } catch {
          onFail(new Unavailable(`--via: the remote answered something else than odooops api-stdio`));
        }
        if (buf.length > nl + 1) controller.enqueue(buf.slice(nl + 1));
      });
      c.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      c.on("exit", (code: number | null) => {
        exitCode = code;
      });
      c.on("close", () => {
        if (!headDone)
          onFail(
            new Unavailable(
              `--via ssh://${via.username}@${via.host}: odooops api-stdio ended without an answer (exit ${exitCode}): ${stderr.trim() || "no output"}`,
            ),
          );
        else controller.close();
      });
    });
    init.signal?.addEventListener("abort", () => ch.close(), { once: true });
    ch.write(`${JSON.stringify(head)}\n`);
    ch.end(body);
    const h = await gotHead;
    return new Response(h.status === 204 || h.status === 304 ? null : stream, { status: h.status, headers: h.headers });
  };
  return {
    fetch,
    close() {
      session?.then((s) => s.close()).catch(() => undefined);
    },
  };
}
