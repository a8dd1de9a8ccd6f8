/**
 * acme-client's HTTP layer is one process-wide axios instance; this module owns its settings:
 *  - trust: a private CA (acme.caFile, pebble in tests) goes into its https agent — the machine's
 *    NODE_EXTRA_CA_CERTS is not consulted for it;
 *  - no transport retries (retryMaxAttempts = 0): acme-client would otherwise sleep for the
 *    CA's Retry-After on a rate limit (hours with Let's Encrypt) and turn an untrusted
 *    certificate into a 75 s stall; a failed issuance is retried by the daily renewal job;
 *  - problem capture: acme-client throws `Error(detail)` and drops the problem type, so a
 *    response interceptor records the last problem document into the AsyncLocalStorage scope
 *    of the issuance that made the request.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { get as httpGet } from "node:http";
import { Agent, get as httpsGet } from "node:https";
import acme from "acme-client";
import { Log } from "../../log";
import { unreachableCa, type AcmeProblem } from "./errors";

const log = Log.create("acme");

interface AcmeAxiosSettings {
  acmeSettings: { retryMaxAttempts: number; retryDefaultDelay: number };
}

interface Scope {
  problem?: AcmeProblem;
}

const scopes = new AsyncLocalStorage<Scope>();
let installed = false;
let currentCa: string | undefined;

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** A problem document (error response) or an object that failed with one (challenge/authz). */
function problemOf(data: unknown, status: number, retryAfter: unknown): AcmeProblem | undefined {
  if (!data || typeof data !== "object") return undefined;
  const d = data as Record<string, unknown>;
  const type = str(d.type);
  if (type?.startsWith("urn:ietf:params:acme:error:"))
    return { type, detail: str(d.detail) ?? "", status, retryAfter: str(retryAfter) };
  const inner =
    d.status === "invalid" && d.error && typeof d.error === "object" ? (d.error as Record<string, unknown>) : undefined;
  const innerType = inner ? str(inner.type) : undefined;
  if (inner && innerType) return { type: innerType, detail: str(inner.detail) ?? "", status };
  return undefined;
}

/** Applies the transport settings; cheap and idempotent, called before every issuance. */
export function configureTransport(opts: { caPem?: string }): void {
  const defaults = acme.axios.defaults as typeof acme.axios.defaults & AcmeAxiosSettings;
  defaults.acmeSettings.retryMaxAttempts = 0;
  if (opts.caPem !== currentCa) {
    currentCa = opts.caPem;
    defaults.httpsAgent = opts.caPem ? new Agent({ ca: opts.caPem, keepAlive: false }) : undefined;
  }
  if (installed) return;
  installed = true;
  acme.setLogger((msg) => log.debug(msg));
  acme.axios.interceptors.response.use((resp) => {
    const scope = scopes.getStore();
    const problem = problemOf(resp.data, resp.status, resp.headers?.["retry-after"]);
    if (scope && problem) scope.problem = problem;
    return resp;
  });
}

/** Runs `fn` with its own problem scope; `lastProblem()` inside reads it. */
export function withProblemScope<T>(fn: () => Promise<T>): Promise<T> {
  return scopes.run({}, fn);
}

export function lastProblem(): AcmeProblem | undefined {
  return scopes.getStore()?.problem;
}

/**
 * GET the directory with the same trust settings, so "untrusted certificate" or "connection
 * refused" is reported as such instead of as acme-client's undefined-response TypeError.
 */
export function checkDirectory(directoryUrl: string, caPem?: string, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const get = directoryUrl.startsWith("http:") ? httpGet : httpsGet;
    const req = get(directoryUrl, { ...(caPem ? { ca: caPem } : {}), timeout: timeoutMs }, (res) => {
      res.resume();
      if ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300) resolve();
      else reject(unreachableCa(directoryUrl, new Error(`HTTP ${res.statusCode} from the directory URL`)));
    });
    req.on("timeout", () =>
      req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: "ETIMEDOUT" })),
    );
    req.on("error", (e) => reject(unreachableCa(directoryUrl, e)));
  });
}
