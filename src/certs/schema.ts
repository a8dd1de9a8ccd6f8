/** API shapes of certificates (routes, OpenAPI and the CLI renderer). */
import { z } from "@hono/zod-openapi";
import { TIERS } from "../env/vocabulary";
import { JobView } from "../jobs/view";

export const certStatuses = ["valid", "expiring", "expired", "missing", "unreadable"] as const;

export const CertificateView = z
  .object({
    domain: z.string(),
    /** The live environment serving this domain (null: none does any more). */
    env: z.string().nullable(),
    tier: z.enum(TIERS).nullable(),
    /** null while the env has no certificate. */
    source: z.enum(["acme", "imported"]).nullable(),
    serial: z.string().nullable(),
    issuer: z.string().nullable(),
    notAfter: z.string().nullable(),
    daysLeft: z.number().nullable(),
    /** expiring: inside the renewal window (acme.renewDays); missing: the env's tier gets TLS but it has none. */
    status: z.enum(certStatuses),
    /** Why, in words (renewal decision, last failure, unreadable entry). */
    detail: z.string(),
    /** A queued or running certificate job for the env. */
    pendingJob: z.string().nullable(),
  })
  .openapi("Certificate");
export type CertificateView = z.infer<typeof CertificateView>;

export const RenewRequest = z
  .object({
    /** One environment (name, slug or domain); all environments with (or due for) a certificate when absent. */
    env: z.string().min(1).max(200).optional(),
    /**
     * Renew even when still valid. For all environments it never touches imported certificates;
     * for one named environment it replaces an imported certificate with one from the CA.
     */
    force: z.boolean().default(false),
  })
  .strict();
export type RenewRequest = z.infer<typeof RenewRequest>;

const RenewItem = z.object({
  env: z.string(),
  domain: z.string(),
  reason: z.string(),
  job: JobView.nullable(),
  /** Someone has to act (an imported certificate about to expire, a name no CA issues for). */
  attention: z.boolean(),
});
export type RenewItem = z.infer<typeof RenewItem>;

export const RenewOutcome = z
  .object({
    /** Jobs queued by this request. */
    queued: z.array(RenewItem),
    /** A certificate job was already queued or running for these: not duplicated. */
    pending: z.array(RenewItem),
    /** Nothing to do (still valid, imported, not eligible), with the reason. */
    skipped: z.array(RenewItem),
  })
  .openapi("RenewOutcome");
export type RenewOutcome = z.infer<typeof RenewOutcome>;

const PEM_MAX = 256 * 1024;

export const ImportRequest = z
  .object({
    env: z.string().min(1).max(200),
    /** Server certificate (PEM), optionally followed by its intermediates. */
    certPem: z.string().min(1, "certificate is empty").max(PEM_MAX),
    /** Unencrypted private key (PEM). */
    keyPem: z.string().min(1, "private key is empty").max(PEM_MAX),
    /** Intermediates when they come as a separate file. */
    chainPem: z.string().max(PEM_MAX).optional(),
  })
  .strict();
export type ImportRequest = z.infer<typeof ImportRequest>;
