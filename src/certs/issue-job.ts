/**
 * Certificate jobs on one environment (its id is the lock key: they queue behind env create,
 * deploys and destroy). `certs.issue` gets a certificate from the CA — or finds the stored one
 * still good — then serves it; `certs.import` stores a bring-your-own certificate, then serves
 * it. Both end with the served-certificate check.
 */
import { z } from "zod";
import { loadEnvById } from "../env/lookup";
import type { Environment } from "../env/env.sql";
import { AppError } from "../errors";
import { defineJob, type StepContext, stepOutput, storingStep, onEnv, EnvJobTarget } from "../jobs/define";
import type { Deps } from "../deps";
import { envCertificate } from "./env-cert";
import { obtainEnvCertificate, ServedSummary, serveEnvCertificate } from "./env-tls";
import { markServedOverHttps } from "../env/state";
import { importCertificate } from "./import";
import { readCertInfo } from "./info";
import { requireCreated } from "../env/guards";

function servableEnv(deps: Deps, envId: string): Environment {
  const env = loadEnvById(deps.db, envId);
  requireCreated(env, "certificates are served for active or stopped environments only");
  return env;
}

const serveOutput = stepOutput("serve", ServedSummary);
const issueOutput = stepOutput(
  "issue",
  z.object({
    issued: z.boolean(),
    serial: z.string(),
    notAfter: z.string(),
    source: z.enum(["acme", "imported"]).nullable(),
  }),
);

async function serveCurrent(ctx: StepContext<{ envId: string }>) {
  const env = servableEnv(ctx.deps, ctx.params.envId);
  const cert = envCertificate(ctx.deps.paths, env);
  if (!cert)
    throw new AppError(
      `no certificate is stored for ${env.domain} any more (removed while the job ran?); run the command again`,
    );
  return serveEnvCertificate(ctx.deps, env, cert, ctx.log);
}

export const CertIssueParams = EnvJobTarget.extend({
  force: z.boolean().default(false),
  /** When it was asked for: a certificate stored since then satisfies it (no second order on resume). */
  requestedAt: z.iso.datetime(),
});
export type CertIssueParams = z.infer<typeof CertIssueParams>;

export const certIssueJob = defineJob<CertIssueParams>({
  kind: "certs.issue",
  params: CertIssueParams,
  ...onEnv,
  steps: [
    storingStep(issueOutput, {
      title: "Getting the certificate",
      async run(ctx) {
        const env = servableEnv(ctx.deps, ctx.params.envId);
        const { cert, issued } = await obtainEnvCertificate(ctx.deps, env, {
          force: ctx.params.force,
          requestedAt: ctx.params.requestedAt,
          log: ctx.log,
        });
        return {
          issued,
          serial: cert.info.serial,
          notAfter: cert.info.notAfter.toISOString(),
          source: cert.meta.source,
        };
      },
    }),
    storingStep(serveOutput, { title: "Serving it over HTTPS", run: serveCurrent }),
  ],
  async succeeded(ctx) {
    markServedOverHttps(ctx.deps.db, ctx.params.envId);
    return { env: ctx.params.slug, issued: ctx.output(issueOutput).issued, ...ctx.output(serveOutput) };
  },
});

export const CertImportParams = EnvJobTarget.extend({
  /** Server certificate followed by its intermediates (validated before the job was queued). */
  fullchainPem: z.string().min(1),
  /** The private key, sealed with the secret box: job params are stored in the state database. */
  keyEnc: z.string().min(1),
});
export type CertImportParams = z.infer<typeof CertImportParams>;

export const certImportJob = defineJob<CertImportParams>({
  kind: "certs.import",
  params: CertImportParams,
  ...onEnv,
  steps: [
    {
      name: "store",
      title: "Storing the certificate",
      async run(ctx) {
        const { deps, params } = ctx;
        const env = servableEnv(deps, params.envId);
        const serial = readCertInfo(params.fullchainPem).serial;
        const current = envCertificate(deps.paths, env);
        if (current?.meta.source === "imported" && current.info.serial === serial) {
          ctx.log(`certificate serial ${serial} is already the current one for ${env.domain}`);
        } else {
          importCertificate(deps.paths.certsDir, {
            domain: env.domain,
            certPem: params.fullchainPem,
            keyPem: deps.box.open(params.keyEnc),
          });
          ctx.log(
            `stored certificate serial ${serial} for ${env.domain}${current ? ` (replacing ${current.meta.source} serial ${current.info.serial})` : ""}`,
          );
        }
      },
    },
    storingStep(serveOutput, { title: "Serving it over HTTPS", run: serveCurrent }),
  ],
  async succeeded(ctx) {
    markServedOverHttps(ctx.deps.db, ctx.params.envId);
    return { env: ctx.params.slug, ...ctx.output(serveOutput) };
  },
});
