/**
 * ACME settings (zod: they come from config.yaml / init flags). Suggested home: an `acme` block in
 * src/config/schema.ts — `acme: AcmeSettingsSchema.prefault({})`.
 */
import { z } from "zod";

export const LETSENCRYPT_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory";
export const LETSENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory";

export const AcmeSettingsSchema = z
  .object({
    directoryUrl: z.url().default(LETSENCRYPT_PRODUCTION),
    /** Contact for expiry notices from the CA (optional with Let's Encrypt). */
    email: z.email().optional(),
    /** PEM bundle trusted for the directory's HTTPS instead of the system store (private CA). */
    caFile: z.string().optional(),
    /**
     * Fetch our own challenge over http://<domain>/ before asking the CA: "warn" logs what is
     * wrong and continues (servers without hairpin NAT cannot reach themselves), "enforce" stops
     * before spending the CA's failed-validation quota, "off" skips it.
     */
    preflight: z.enum(["off", "warn", "enforce"]).default("warn"),
    /** Renew when fewer days of validity remain. */
    renewDays: z.number().int().min(1).max(89).default(30),
  })
  .strict();

export type AcmeSettings = z.infer<typeof AcmeSettingsSchema>;
