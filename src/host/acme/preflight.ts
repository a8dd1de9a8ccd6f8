/**
 * Fetch our own HTTP-01 answer the way the CA will (http://<domain>:80/…), through the system's
 * DNS. Failing here is cheaper than failing at the CA (Let's Encrypt counts failed
 * validations), and the error names the cause: no DNS, nothing listening, another server.
 */
import { errorText } from "../../errors";
import { request } from "node:http";
import { AcmeChallengeFailed, connectionMessage, dnsMessage, wrongAnswerMessage } from "./errors";

export interface PreflightOptions {
  domain: string;
  token: string;
  keyAuthorization: string;
  /** Default 80, the only port the CA uses. */
  port?: number;
  /** Connect here instead of resolving `domain` (the Host header stays `domain`). */
  connectHost?: string;
  timeoutMs?: number;
}

function get(opts: PreflightOptions): Promise<{ status: number; body: string }> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: opts.connectHost ?? opts.domain,
        port: opts.port ?? 80,
        path: `/.well-known/acme-challenge/${opts.token}`,
        headers: { host: opts.domain },
        timeout: timeoutMs,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          if (body.length < 4096) body += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () =>
      req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: "ETIMEDOUT" })),
    );
    req.on("error", reject);
    req.end();
  });
}

/** Resolves when the domain serves our key authorization; throws AcmeChallengeFailed otherwise. */
export async function preflightHttp01(opts: PreflightOptions): Promise<void> {
  let res: { status: number; body: string };
  try {
    res = await get(opts);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "";
    const msg = `${code ? `${code}: ` : ""}${errorText(e)}`;
    if (/ENOTFOUND|EAI_AGAIN|EAI_NONAME|DNS/i.test(msg))
      throw new AcmeChallengeFailed(dnsMessage(opts.domain, `lookup failed: ${msg}`), {
        domain: opts.domain,
        stage: "preflight",
      });
    throw new AcmeChallengeFailed(connectionMessage(opts.domain, msg), { domain: opts.domain, stage: "preflight" });
  }
  if (res.status !== 200 || res.body.trim() !== opts.keyAuthorization) {
    throw new AcmeChallengeFailed(
      wrongAnswerMessage(
        opts.domain,
        `HTTP ${res.status} with ${res.body.trim() ? "a different body" : "an empty body"}`,
      ),
      { domain: opts.domain, stage: "preflight", status: res.status },
    );
  }
}
