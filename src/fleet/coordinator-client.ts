/**
 * The agent's HTTPS client to the coordinator's agent API, pinned to the certificate fingerprint
 * from the join token. Bun's fetch calls `checkServerIdentity` only for a certificate that chains
 * to a trusted CA, so the agent first reads the coordinator's certificate over a raw TLS
 * connection, checks its fingerprint against the pin, and from then on trusts that certificate
 * (and only a certificate with that fingerprint) as the one CA.
 */
import { X509Certificate } from "node:crypto";
import { connect } from "node:tls";
import { AppError, Unauthorized, Unavailable } from "../errors";
import { AGENT_API_BASE } from "./schema";

const TIMEOUT_MS = 15_000;

/** The PEM of the certificate `url` presents, refused unless its SHA-256 fingerprint is `fingerprint`. */
export function fetchPinnedCert(url: string, fingerprint: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: u.hostname,
      port: Number(u.port || 443),
      // Trust comes from the pin below, not from a CA.
      rejectUnauthorized: false,
      timeout: TIMEOUT_MS,
    });
    const fail = (e: Error) => {
      socket.destroy();
      reject(new Unavailable(`cannot reach the coordinator at ${url}: ${e.message}`));
    };
    socket.once("error", fail);
    socket.once("timeout", () => fail(new Error(`no TLS handshake within ${TIMEOUT_MS} ms`)));
    socket.once("secureConnect", () => {
      const cert = socket.getPeerCertificate();
      socket.end();
      if (!cert?.raw) return reject(new Unavailable(`${url} presented no certificate`));
      if (cert.fingerprint256 !== fingerprint)
        return reject(
          new Unauthorized(
            `the coordinator at ${url} presented certificate ${cert.fingerprint256}, not the pinned ${fingerprint}: refusing to talk to it`,
          ),
        );
      resolve(
        `-----BEGIN CERTIFICATE-----\n${cert.raw
          .toString("base64")
          .match(/.{1,64}/g)
          ?.join("\n")}\n-----END CERTIFICATE-----\n`,
      );
    });
  });
}

export interface CoordinatorLink {
  url: string;
  fingerprint: string;
  certPem: string;
}

/** An error the coordinator answered with (its code and message), or that it could not be reached. */
class RemoteError extends AppError {
  constructor(
    message: string,
    override readonly status: number,
    override readonly code: string,
  ) {
    super(message);
  }
}

/**
 * The name a certificate answers to: its first DNS subject alternative name, else its common
 * name; undefined when the PEM does not parse (then the TLS handshake refuses it anyway).
 */
function certName(pem: string): string | undefined {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    return undefined;
  }
  const dns = cert.subjectAltName
    ?.split(",")
    .map((n) => n.trim())
    .find((n) => n.startsWith("DNS:"));
  return dns?.slice(4) ?? /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
}

export class CoordinatorClient {
  constructor(
    private readonly link: CoordinatorLink,
    private credential: string | null,
    /** Tests answer in-process (the app's `request`); the TLS options are then unused. */
    private readonly fetchImpl: (url: string, init: RequestInit) => Promise<Response> = fetch,
  ) {}

  /**
   * The pinned certificate is the only trust anchor and the name checked is its own, so any
   * address reaches the coordinator and no other certificate passes. Not a
   * `checkServerIdentity` callback: with one, Bun opens a new TLS connection per request (no
   * pooling). One object for the client's life, made on first use (in-process tests have none).
   */
  private tlsOptions: { ca: string; serverName?: string } | null = null;
  private get tls() {
    this.tlsOptions ??= { ca: this.link.certPem, serverName: certName(this.link.certPem) };
    return this.tlsOptions;
  }

  /** After a credential rotation: every later request carries the new one. */
  useCredential(credential: string): void {
    this.credential = credential;
  }

  async post<T>(path: string, body: unknown, timeoutMs = TIMEOUT_MS): Promise<T> {
    const res = await this.send(path, "application/json", JSON.stringify(body), AbortSignal.timeout(timeoutMs));
    return (await jsonOf(res)) as T;
  }

  /**
   * A transfer's file, streamed from the coordinator (src/fleet/transfer-relay.ts): no timeout
   * on the body, which may take long; `signal` (the job's) ends it.
   */
  async download(path: string, body: unknown, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const res = await this.send(path, "application/json", JSON.stringify(body), signal);
    if (!res.body) throw new Unavailable(`coordinator: no body for ${path}`);
    return res.body;
  }

  /** A file of this host's sent as the request body (streamed from disk by fetch); the JSON answer. */
  async upload<T>(path: string, file: Blob, signal: AbortSignal): Promise<T> {
    return (await jsonOf(await this.send(path, "application/octet-stream", file, signal))) as T;
  }

  /** The response when it is 2xx; else the coordinator's error, or Unavailable when it did not answer. */
  private async send(path: string, type: string, body: string | Blob, signal: AbortSignal): Promise<Response> {
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.link.url.replace(/\/+$/, "")}${AGENT_API_BASE}${path}`, {
        method: "POST",
        headers: {
          "content-type": type,
          ...(this.credential ? { authorization: `Bearer ${this.credential}` } : {}),
        },
        body,
        signal,
        tls: this.tls,
      } as RequestInit);
    } catch (e) {
      throw new Unavailable(`coordinator ${this.link.url} unreachable: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (res.ok) return res;
    const err = ((await jsonOf(res).catch(() => null)) as { error?: { code?: string; message?: string } } | null)
      ?.error;
    throw new RemoteError(
      `coordinator: ${err?.message ?? `HTTP ${res.status}`}`,
      res.status,
      err?.code ?? "http_error",
    );
  }
}

/** The body as JSON; null when empty or not JSON (an error is then reported with its status). */
async function jsonOf(res: Response): Promise<unknown> {
  const text = await res.text();
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}
