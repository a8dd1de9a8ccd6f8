/**
 * An environment's certificate: which envs get one by default, the ACME settings to issue it
 * with, and the TLS part of its vhost. The env's vhost (src/env/host.ts) takes its TLS from
 * here, so env create, a renewal and an import all render the same file.
 */
import type { Config, TierName } from "../config/schema";
import type { Paths } from "../config/paths";
import { Invalid } from "../errors";
import type { AcmeDeps } from "./acme-order";
import type { VhostTls } from "../host/nginx";
import { isDomain } from "./domain";
import { vhostTls } from "./serve";
import { loadCertificate, type StoredCertificate } from "./store";

/** Once sent, browsers refuse plain HTTP to the name for a year: production only. */
export function hstsFor(tier: TierName): boolean {
  return tier === "production";
}

/** True when env create issues a certificate for envs of this tier. */
export function tlsByDefault(config: Pick<Config, "acme">, tier: TierName): boolean {
  return config.acme.enabled && config.acme.tiers.includes(tier);
}

export function assertAcmeEnabled(config: Pick<Config, "acme">): void {
  if (!config.acme.enabled) {
    throw new Invalid(
      "ACME is not configured: add an `acme:` block (email, directoryUrl) to the config and restart the daemon, or bring your own certificate with `odooops certs import`",
    );
  }
}

/** What issueCertificate needs; refuses when ACME is off. */
export function acmeDeps(deps: {
  config: Pick<Config, "acme">;
  paths: Pick<Paths, "certsDir" | "acmeWebroot">;
}): AcmeDeps {
  assertAcmeEnabled(deps.config);
  const { directoryUrl, email, caFile, preflight, renewDays } = deps.config.acme;
  return {
    paths: { certsDir: deps.paths.certsDir, acmeWebroot: deps.paths.acmeWebroot },
    settings: { directoryUrl, email, caFile, preflight, renewDays },
  };
}

/** The env domain's current certificate; null when there is none (or the name cannot have one). */
export function envCertificate(paths: Pick<Paths, "certsDir">, env: { domain: string }): StoredCertificate | null {
  return isDomain(env.domain) ? loadCertificate(paths.certsDir, env.domain) : null;
}

/** TLS for the env's vhost while its domain has a certificate. */
export function envTls(
  deps: { config: Pick<Config, "nginx">; paths: Pick<Paths, "certsDir"> },
  env: { domain: string; tier: TierName },
): VhostTls | undefined {
  const cert = envCertificate(deps.paths, env);
  return cert ? vhostTls(cert, { hsts: hstsFor(env.tier), httpsPort: deps.config.nginx.httpsPort }) : undefined;
}
