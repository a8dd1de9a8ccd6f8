/**
 * HTTPS for one environment, shared by env create's "tls" step and the certs jobs: get the
 * certificate (ACME, or the one already stored), put it in the env's vhost, reload, and check
 * what nginx serves.
 *
 * In env create a TLS failure does not undo a healthy environment: the env stays active over
 * HTTP, its status reason says why and how to retry (`odooops certs renew <env>`), and the
 * daily renewal keeps trying. A later successful certificate job ends the fallback (src/env/state.ts: markServedOverHttps).
 */
import { z } from "zod";
import { envHost, envVhostSpec } from "../env/host";
import { writeEnvAccess } from "../env/access";
import { loadEnvById } from "../env/lookup";
import type { Environment } from "../env/env.sql";
import { Conflict, errorText } from "../errors";
import { LETSENCRYPT_PRODUCTION } from "../host/acme/settings";
import { reload, renderVhost, writeVhost } from "../host/nginx";
import { type StepDef, stepOutput, storingStep } from "../jobs/define";
import type { Deps } from "../deps";
import { acmeDeps, envCertificate, hstsFor, tlsByDefault } from "./env-cert";
import { serveCertificate } from "./serve";
import type { StoredCertificate } from "./store";

type Log = (line: string) => void;

export interface ObtainOptions {
  /** Order a new certificate even when the stored one is valid (and replace an imported one). */
  force: boolean;
  /** A certificate stored after this instant satisfies the request (a forced job that resumes). */
  requestedAt?: string;
  log: Log;
}

export interface ObtainResult {
  cert: StoredCertificate;
  issued: boolean;
}

/** The certificate the env should serve now, ordering one from the CA when needed. */
export async function obtainEnvCertificate(deps: Deps, env: Environment, opts: ObtainOptions): Promise<ObtainResult> {
  const current = envCertificate(deps.paths, env);
  if (current && opts.requestedAt && Date.parse(current.meta.storedAt) >= Date.parse(opts.requestedAt)) {
    opts.log(
      `certificate serial ${current.info.serial} was stored after this request (${current.meta.storedAt}); not ordering another`,
    );
    return { cert: current, issued: false };
  }
  if (current?.meta.source === "imported" && !opts.force) {
    opts.log(
      `${env.domain} has an imported certificate (valid until ${current.info.notAfter.toISOString()}); it is kept (odooops certs renew ${env.slug} --force replaces it with one from the CA)`,
    );
    return { cert: current, issued: false };
  }
  // acme-client (with axios and node-forge) is loaded on the first order, not at daemon start.
  const { issueCertificate } = await import("./acme-order");
  const r = await issueCertificate(acmeDeps(deps), { domain: env.domain, force: opts.force, onProgress: opts.log });
  return { cert: r.cert, issued: r.issued };
}

/** What a certificate job's "serve" step stores; the job's result repeats it. */
export const ServedSummary = z.object({
  domain: z.string(),
  serial: z.string(),
  notAfter: z.string(),
  source: z.string(),
  httpsPort: z.number(),
  /** The served chain verifies against this host's trust store. */
  trusted: z.boolean(),
});
export type ServedSummary = z.infer<typeof ServedSummary>;

/** env create's "tls" step: served over HTTPS, or over HTTP with the warning that becomes the env's status reason. */
export const tlsOutput = stepOutput(
  "tls",
  z.discriminatedUnion("https", [
    ServedSummary.extend({ https: z.literal(true) }),
    z.object({ https: z.literal(false), warning: z.string() }),
  ]),
);

function ports(env: Environment): { http: number; longpoll: number } {
  if (env.httpPort === null || env.longpollPort === null) {
    throw new Conflict(
      `environment ${env.slug} has no published Odoo ports (status ${env.status}); a certificate is served only for an environment that was created`,
    );
  }
  return { http: env.httpPort, longpoll: env.longpollPort };
}

/** Switches the env's vhost to HTTPS with `cert`, reloads nginx and proves `cert` is what is served. */
export async function serveEnvCertificate(
  deps: Deps,
  env: Environment,
  cert: StoredCertificate,
  log: Log,
): Promise<ServedSummary> {
  const httpsPort = deps.config.nginx.httpsPort;
  writeEnvAccess(deps, env);
  const served = await serveCertificate({
    nginx: envHost(deps).nginx,
    vhost: envVhostSpec(deps, env, ports(env)),
    cert,
    hsts: hstsFor(env.tier),
    httpsPort,
    // Let's Encrypt's chain must verify here; staging, private CAs and imported chains may not.
    requireTrusted: cert.meta.source === "acme" && cert.meta.directoryUrl === LETSENCRYPT_PRODUCTION,
  });
  const notAfter = served.info.notAfter.toISOString();
  log(
    `nginx serves serial ${served.info.serial} for ${env.domain} on port ${httpsPort}, valid until ${notAfter}${hstsFor(env.tier) ? ", with HSTS" : ""}`,
  );
  if (!served.authorized)
    log(
      `note: the served chain is not trusted by this host's trust store (${served.authorizationError ?? "unknown reason"})`,
    );
  return {
    domain: env.domain,
    serial: served.info.serial,
    notAfter,
    source: cert.meta.source,
    httpsPort,
    trusted: served.authorized,
  };
}

/** Back to the plain HTTP vhost after HTTPS could not be served (the certificate stays stored). */
async function fallBackToHttp(deps: Deps, env: Environment): Promise<void> {
  const host = envHost(deps);
  writeEnvAccess(deps, env);
  const text = renderVhost({ ...envVhostSpec(deps, env, ports(env)), tls: undefined });
  if (await writeVhost(host.nginx, env.slug, text)) await reload(host.nginx);
}

/** The env's status reason after env create's "tls" step (null when HTTPS works or was not wanted). */
export function httpFallbackReason(output: z.infer<typeof tlsOutput.schema> | undefined): string | null {
  return output?.https === false ? output.warning : null;
}

/** env create's last step: HTTPS for tiers that get it by default, never failing the create. */
export function envTlsStep<P extends { envId: string }>(): StepDef<P> {
  return storingStep(tlsOutput, {
    title: "Enabling HTTPS",
    when: (params, deps) => tlsByDefault(deps.config, loadEnvById(deps.db, params.envId).tier),
    async run(ctx) {
      const env = loadEnvById(ctx.deps.db, ctx.params.envId);
      try {
        const { cert } = await obtainEnvCertificate(ctx.deps, env, { force: false, log: ctx.log });
        return { https: true as const, ...(await serveEnvCertificate(ctx.deps, env, cert, ctx.log)) };
      } catch (e) {
        const warning = `served over HTTP: HTTPS could not be enabled for ${env.domain}: ${errorText(e)} (once fixed: odooops certs renew ${env.slug})`;
        ctx.log(`warning: ${warning}`);
        await fallBackToHttp(ctx.deps, env).catch((err: unknown) =>
          ctx.log(`warning: restoring the HTTP vhost failed: ${errorText(err)}`),
        );
        return { https: false as const, warning };
      }
    },
  });
}
