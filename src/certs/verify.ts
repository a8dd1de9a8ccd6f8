/**
 * What is actually served. After a reload, connect to nginx with the env's name (SNI), read the
 * presented certificate and compare it with the one just stored: "renewed but the old cert is
 * still served" (no reload, a reload nginx rejected, another vhost winning SNI) shows up here
 * and nowhere else until browsers complain.
 */
import { connect, type PeerCertificate } from "node:tls";
import { X509Certificate } from "node:crypto";
import { AppError, Unavailable, errorText } from "../errors";
import { sanCovers } from "./domain";
import { certInfo, normalizeSerial, type CertInfo } from "./info";

export interface ServedCheck {
  host: string;
  port: number;
  /** SNI name, and the name the certificate must cover. */
  servername: string;
  /** Serial of the stored certificate (any format: colons, case, leading zeros ignored). */
  expectSerial?: string;
  /** Trust anchors instead of the system store (private CA, pebble in tests). */
  ca?: string | string[];
  timeoutMs?: number;
  now?: Date;
}

export interface ServedResult {
  info: CertInfo;
  /** Chain validated against the trust store (`ca` or the system's). */
  authorized: boolean;
  authorizationError?: string;
  /** Serial equals expectSerial (true when none was given). */
  serialMatches: boolean;
  coversName: boolean;
  expired: boolean;
  /** Human-readable reasons the served certificate is not the expected, valid one. */
  problems: string[];
  ok: boolean;
}

export class ServedCertificateMismatch extends AppError {
  override readonly code = "certificate_not_served";
  override readonly status = 409;
}

function fetchPeer(opts: ServedCheck): Promise<{ der: Buffer; authorized: boolean; authorizationError?: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: opts.host,
      port: opts.port,
      servername: opts.servername,
      ca: opts.ca,
      // Read the certificate even when untrusted: the caller gets `authorized` and decides.
      rejectUnauthorized: false,
      ALPNProtocols: ["http/1.1"],
    });
    const timer = setTimeout(
      () => socket.destroy(new Error(`no TLS handshake within ${opts.timeoutMs ?? 10_000} ms`)),
      opts.timeoutMs ?? 10_000,
    );
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      const peer: PeerCertificate = socket.getPeerCertificate();
      const authorizationError = socket.authorizationError ? String(socket.authorizationError) : undefined;
      socket.end();
      if (!peer?.raw) return reject(new Error("the server presented no certificate"));
      resolve({ der: peer.raw, authorized: socket.authorized, authorizationError });
    });
    socket.once("error", (e: Error) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Connects with SNI and reports what is served; throws Unavailable when no TLS handshake happens. */
export async function verifyServedCertificate(opts: ServedCheck): Promise<ServedResult> {
  let peer: Awaited<ReturnType<typeof fetchPeer>>;
  try {
    peer = await fetchPeer(opts);
  } catch (e) {
    throw new Unavailable(
      `could not read the certificate served on ${opts.host}:${opts.port} for ${opts.servername}: ${errorText(e)}`,
    );
  }
  const info = certInfo(new X509Certificate(peer.der));
  const now = opts.now ?? new Date();
  const serialMatches = opts.expectSerial === undefined || normalizeSerial(opts.expectSerial) === info.serial;
  const coversName = sanCovers(info.sans, opts.servername);
  const expired = info.notAfter.getTime() <= now.getTime();
  const problems: string[] = [];
  if (!serialMatches)
    problems.push(
      `serves certificate serial ${info.serial} (valid until ${info.notAfter.toISOString()}), expected ${normalizeSerial(opts.expectSerial ?? "")}: nginx was not reloaded, refused the new configuration, or another vhost answers for this name`,
    );
  if (!coversName)
    problems.push(
      `the served certificate does not cover ${opts.servername} (it covers ${info.sans.join(", ") || "no DNS names"})`,
    );
  if (expired) problems.push(`the served certificate expired on ${info.notAfter.toISOString()}`);
  return {
    info,
    authorized: peer.authorized,
    authorizationError: peer.authorizationError,
    serialMatches,
    coversName,
    expired,
    problems,
    ok: problems.length === 0,
  };
}

/** verifyServedCertificate, throwing ServedCertificateMismatch with every problem found. */
export async function assertServedCertificate(opts: ServedCheck & { requireTrusted?: boolean }): Promise<ServedResult> {
  const r = await verifyServedCertificate(opts);
  const problems = [...r.problems];
  if (opts.requireTrusted && !r.authorized)
    problems.push(`the served chain is not trusted: ${r.authorizationError ?? "unknown reason"}`);
  if (problems.length > 0) {
    throw new ServedCertificateMismatch(`${opts.servername} on ${opts.host}:${opts.port}: ${problems.join("; ")}`, {
      servedSerial: r.info.serial,
      expectSerial: opts.expectSerial,
      problems,
    });
  }
  return r;
}
