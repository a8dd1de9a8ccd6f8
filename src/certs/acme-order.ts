/**
 * Certificate issuance over HTTP-01 with acme-client's building blocks (not `auto()`: we need
 * the order's authorizations to report per-domain failures, our own preflight, and challenge
 * files removed in every case). The new certificate is stored only after the CA issued it, so a
 * failed attempt leaves the current certificate — or no files at all — untouched.
 * It lives in certs/, not host/acme/: it reads the certificate store and decides renewal (certs'
 * rules); host/acme/ keeps the protocol pieces and imports no domain.
 */
import { readFileSync } from "node:fs";
import acme from "acme-client";
import type { Paths } from "../config/paths";
import { Invalid, issuesText, errorText } from "../errors";
import { Log } from "../log";
import { assertDomain } from "./domain";
import { needsRenewal } from "./renewal";
import { loadCertificate, saveCertificate, type StoredCertificate } from "./store";
import { accountClient } from "../host/acme/account";
import { removeChallenge, writeChallenge } from "../host/acme/challenge";
import { AcmeFailed, toAcmeError } from "../host/acme/errors";
import { withDomainLock } from "../host/acme/lock";
import { preflightHttp01 } from "../host/acme/preflight";
import { AcmeSettingsSchema, type AcmeSettings } from "../host/acme/settings";
import { checkDirectory, configureTransport, lastProblem, withProblemScope } from "../host/acme/transport";

const log = Log.create("acme");

export interface IssueRequest {
  /** Primary name: the certificate is stored under it. */
  domain: string;
  /** More names on the same certificate (e.g. www.<domain>). */
  altNames?: string[];
  /** Issue even when the stored certificate is valid for longer than renewDays. */
  force?: boolean;
  /** Progress lines for the job log. */
  onProgress?: (line: string) => void;
}

export interface IssueResult {
  cert: StoredCertificate;
  /** False when the stored certificate was still good and nothing was ordered. */
  issued: boolean;
  /** True when this call joined an issuance already running in this process. */
  joined: boolean;
}

export interface AcmeDeps {
  paths: Pick<Paths, "certsDir" | "acmeWebroot">;
  /** Raw settings (validated here: this is where config meets the network). */
  settings: unknown;
}

function parseSettings(raw: unknown): AcmeSettings {
  const r = AcmeSettingsSchema.safeParse(raw);
  if (!r.success) throw new Invalid(`acme settings: ${issuesText(r.error)}`);
  return r.data;
}

async function satisfy(
  client: acme.Client,
  authz: acme.Authorization,
  deps: AcmeDeps,
  settings: AcmeSettings,
  progress: (l: string) => void,
): Promise<void> {
  const name = authz.identifier.value;
  if (authz.status === "valid") return progress(`${name}: already authorized`);
  const challenge = authz.challenges.find((c) => c.type === "http-01");
  if (!challenge) throw new AcmeFailed(`the CA offers no http-01 challenge for ${name}`, { domain: name });
  const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
  let completed = false;
  writeChallenge(deps.paths.acmeWebroot, challenge.token, keyAuthorization);
  try {
    if (settings.preflight !== "off") {
      try {
        await preflightHttp01({ domain: name, token: challenge.token, keyAuthorization });
      } catch (e) {
        if (settings.preflight === "enforce") throw e;
        progress(`${name}: preflight warning (asking the CA anyway): ${errorText(e)}`);
      }
    }
    progress(`${name}: asking the CA to validate http-01`);
    await client.completeChallenge(challenge);
    completed = true;
    await client.waitForValidStatus(challenge);
    progress(`${name}: validated`);
  } catch (e) {
    // A pending authorization left behind would be reused by the next order in its failed state.
    if (!completed) await client.deactivateAuthorization(authz).catch(() => undefined);
    throw e;
  } finally {
    removeChallenge(deps.paths.acmeWebroot, challenge.token);
  }
}

async function order(
  deps: AcmeDeps,
  settings: AcmeSettings,
  names: string[],
  progress: (l: string) => void,
): Promise<StoredCertificate> {
  const [domain] = names;
  const caPem = settings.caFile ? readFileSync(settings.caFile, "utf8") : undefined;
  configureTransport({ caPem });
  await checkDirectory(settings.directoryUrl, caPem);
  return withProblemScope(async () => {
    try {
      const client = await accountClient(deps.paths.certsDir, settings);
      const placed = await client.createOrder({ identifiers: names.map((value) => ({ type: "dns", value })) });
      progress(`order placed for ${names.join(", ")}`);
      for (const authz of await client.getAuthorizations(placed))
        await satisfy(client, authz, deps, settings, progress);
      const [key, csr] = await acme.crypto.createCsr(
        { commonName: domain, altNames: names },
        await acme.crypto.createPrivateEcdsaKey("P-256"),
      );
      const finalized = await client.finalizeOrder(placed, csr);
      const fullchainPem = await client.getCertificate(finalized);
      const cert = saveCertificate(deps.paths.certsDir, domain, {
        fullchainPem,
        privkeyPem: key.toString(),
        source: "acme",
        directoryUrl: settings.directoryUrl,
      });
      progress(`certificate issued: serial ${cert.info.serial}, valid until ${cert.info.notAfter.toISOString()}`);
      return cert;
    } catch (e) {
      throw toAcmeError(e, { domain, directoryUrl: settings.directoryUrl, problem: lastProblem() });
    }
  });
}

/**
 * Ensures `domain` has a current certificate: returns the stored one while it is valid for more
 * than renewDays (unless `force`), otherwise orders a new one. Idempotent and safe to call from
 * concurrent jobs: see ./lock.ts.
 */
export async function issueCertificate(deps: AcmeDeps, req: IssueRequest): Promise<IssueResult> {
  const settings = parseSettings(deps.settings);
  const domain = assertDomain(req.domain);
  const names = [...new Set([domain, ...(req.altNames ?? []).map(assertDomain)])];
  const progress = (line: string) => {
    log.info(line, { domain });
    req.onProgress?.(line);
  };
  const run = withDomainLock(deps.paths.certsDir, domain, async (): Promise<IssueResult> => {
    const current = loadCertificate(deps.paths.certsDir, domain);
    const coversAll = current !== null && names.every((n) => current.info.sans.includes(n));
    if (current && coversAll && !req.force && !needsRenewal(current.info, new Date(), settings.renewDays)) {
      progress(`certificate still valid until ${current.info.notAfter.toISOString()}; nothing to do`);
      return { cert: current, issued: false, joined: false };
    }
    const cert = await order(deps, settings, names, progress);
    return { cert, issued: true, joined: false };
  });
  if (run.joined) progress("an order for this domain is already running here; waiting for it");
  return run.joined ? run.result.then((r) => ({ ...r, joined: true })) : run.result;
}
