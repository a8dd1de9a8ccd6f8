/**
 * Bring-your-own certificate for an env domain (a wildcard or an EV certificate bought
 * elsewhere). Same validation as ACME certificates (key matches, SAN covers the domain, chain
 * order, not expired); stored with source "imported" so renewal never overwrites it.
 */
import { z } from "zod";
import { Invalid, issuesText } from "../errors";
import { assertDomain } from "./domain";
import { saveCertificate, type StoredCertificate } from "./store";

export const ImportInput = z.object({
  domain: z.string(),
  /** Server certificate, optionally followed by its intermediates. */
  certPem: z.string().min(1, "certificate is empty"),
  keyPem: z.string().min(1, "private key is empty"),
  /** Intermediates when they come as a separate file (appended after certPem). */
  chainPem: z.string().optional(),
});
export type ImportInput = z.infer<typeof ImportInput>;

export function importCertificate(certsDir: string, input: ImportInput, now: Date = new Date()): StoredCertificate {
  const parsed = ImportInput.safeParse(input);
  if (!parsed.success) throw new Invalid(`certificate import: ${issuesText(parsed.error, { paths: false })}`);
  const { domain, certPem, keyPem, chainPem } = parsed.data;
  assertDomain(domain);
  const fullchainPem = chainPem ? `${certPem.trimEnd()}\n${chainPem.trimStart()}` : certPem;
  return saveCertificate(certsDir, domain, { fullchainPem, privkeyPem: keyPem, source: "imported" }, now);
}
