/**
 * acme-client only throws `Error(detail)`; the ACME problem type (dns, connection, rateLimited,
 * …) is captured from the responses by ./transport.ts. Here both become AppErrors whose message
 * says what is wrong in the user's terms and what to do about it.
 */
import { AppError, Conflict, Invalid, Unavailable } from "../../errors";

export interface AcmeProblem {
  /** Full URN, e.g. urn:ietf:params:acme:error:connection */
  type: string;
  detail: string;
  status?: number;
  retryAfter?: string;
}

/** The CA (or the preflight) could not validate that this host answers for the domain. */
export class AcmeChallengeFailed extends AppError {
  override readonly code = "acme_challenge_failed";
  override readonly status = 422;
}

/** The CA refuses more requests for now; retrying immediately makes it worse. */
export class AcmeRateLimited extends AppError {
  override readonly code = "acme_rate_limited";
  override readonly status = 429;
}

/** Anything else the CA answered with. */
export class AcmeFailed extends AppError {
  override readonly code = "acme_failed";
  override readonly status = 502;
}

const PREFIX = "urn:ietf:params:acme:error:";

export function problemKind(p: AcmeProblem): string {
  return p.type.startsWith(PREFIX) ? p.type.slice(PREFIX.length) : p.type;
}

export function dnsMessage(domain: string, said: string): string {
  return `DNS for ${domain} does not point at an address (${said}). Create an A (and/or AAAA) record for ${domain} with this server's public IP, wait until it resolves, then retry.`;
}

export function connectionMessage(domain: string, said: string): string {
  return `${domain} could not be reached on port 80 to check the ACME challenge (${said}). Check that DNS for ${domain} points at this server and that port 80 is open to the internet (firewall, cloud security group).`;
}

export function wrongAnswerMessage(domain: string, said: string): string {
  return `${domain} answered, but not with this server's ACME challenge (${said}). DNS for ${domain} probably points at another server, or a proxy/CDN in front does not pass /.well-known/acme-challenge/ through.`;
}

/** Boulder says "DNS problem: NXDOMAIN …" (type dns); pebble says "could not resolve URL" (type connection). */
const DNS_WORDING = /DNS problem|NXDOMAIN|SERVFAIL|could not resolve|no such host|no valid IP addresses/i;

export function fromProblem(domain: string, p: AcmeProblem): AppError {
  const raw = problemKind(p);
  const kind = (raw === "connection" || raw === "dns") && DNS_WORDING.test(p.detail) ? "dns" : raw;
  const details = { domain, acmeType: p.type, detail: p.detail, ...(p.retryAfter ? { retryAfter: p.retryAfter } : {}) };
  switch (kind) {
    case "rateLimited":
      return new AcmeRateLimited(
        `The certificate authority is rate-limiting requests for ${domain}: ${p.detail}. Nothing was changed${p.retryAfter ? `; retry after ${p.retryAfter}` : "; retry later"} (use the staging directory for experiments).`,
        details,
      );
    case "dns":
      return new AcmeChallengeFailed(dnsMessage(domain, `the CA said: ${p.detail}`), details);
    case "connection":
    case "tls":
      return new AcmeChallengeFailed(connectionMessage(domain, `the CA said: ${p.detail}`), details);
    case "unauthorized":
    case "incorrectResponse":
      return new AcmeChallengeFailed(wrongAnswerMessage(domain, `the CA said: ${p.detail}`), details);
    case "caa":
      return new AcmeChallengeFailed(
        `A CAA DNS record for ${domain} does not allow this certificate authority (${p.detail}). Add the CA to the CAA record or remove it.`,
        details,
      );
    case "rejectedIdentifier":
    case "unsupportedIdentifier":
      return new Invalid(`The certificate authority will not issue for ${domain}: ${p.detail}`, details);
    default:
      return new AcmeFailed(`Certificate request for ${domain} failed: ${p.detail} (${p.type})`, details);
  }
}

function errorCode(e: unknown): string {
  const c = (e as { code?: unknown })?.code;
  return typeof c === "string" ? c : "";
}

/** Network failures talking to the CA itself (not the challenge). */
export function unreachableCa(directoryUrl: string, e: unknown): Unavailable {
  const msg = (e as Error)?.message ?? String(e);
  const code = errorCode(e);
  const tlsHint = /certificate|self.signed|CERT_|UNABLE_TO_VERIFY/i.test(`${code} ${msg}`)
    ? " (its HTTPS certificate is not trusted: set acme.caFile for a private CA)"
    : "";
  return new Unavailable(
    `Cannot reach the ACME server at ${directoryUrl}: ${code ? `${code}: ` : ""}${msg}${tlsHint}`,
    { directoryUrl, code },
  );
}

/**
 * Maps whatever issuance threw. `problem` is the last ACME problem seen during the attempt; a
 * rate-limit text without one (old servers) is recognized by its wording.
 */
export function toAcmeError(
  e: unknown,
  ctx: { domain: string; directoryUrl: string; problem?: AcmeProblem },
): AppError {
  if (e instanceof AppError) return e;
  const msg = (e as Error)?.message ?? String(e);
  // acme-client's message is the problem's detail with newlines removed: match it, so a problem
  // seen earlier in the attempt (a retried badNonce) is not blamed for a later failure.
  const detail = ctx.problem?.detail.replace(/\n/g, "") ?? "";
  if (ctx.problem && detail && msg.includes(detail)) return fromProblem(ctx.domain, ctx.problem);
  if (/too many|rate.?limit/i.test(msg))
    return new AcmeRateLimited(
      `The certificate authority is rate-limiting requests for ${ctx.domain}: ${msg}. Nothing was changed; retry later.`,
      { domain: ctx.domain },
    );
  // acme-client's retry interceptor turns a network error into "reading 'config' of undefined".
  if (e instanceof TypeError && /config/.test(msg))
    return unreachableCa(ctx.directoryUrl, new Error("connection failed"));
  if (/ECONNREFUSED|ENOTFOUND|ETIMEDOUT|ECONNRESET|EAI_AGAIN|socket hang up/i.test(`${errorCode(e)} ${msg}`))
    return unreachableCa(ctx.directoryUrl, e);
  return new AcmeFailed(`Certificate request for ${ctx.domain} failed: ${msg}`, { domain: ctx.domain });
}

export function lockedMessage(domain: string, holder: string): Conflict {
  return new Conflict(`A certificate order for ${domain} is already in progress (${holder}); wait for it to finish.`, {
    domain,
  });
}
