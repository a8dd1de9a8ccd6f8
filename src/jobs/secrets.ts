/**
 * Secrets a job hands to the user who started it, once (a new env's Odoo admin password, a
 * copy's dev password). The job's result keeps them sealed under SEALED_KEY, which no view ever
 * shows; the job's creator gets them opened, as `result.secrets`, on the first read of the
 * finished job, and they are gone from the stored result after that. Never in the job log.
 */
import type { SecretBox } from "../auth/secretbox";

export const SEALED_KEY = "sealedSecrets";

export type SealedSecrets = Record<string, string>;

/** The part of a job result that carries `sealed` (already sealed values, e.g. from an env row). */
export function withSealedSecrets(result: Record<string, unknown>, sealed: SealedSecrets): Record<string, unknown> {
  return { ...result, [SEALED_KEY]: sealed };
}

/** A result as anyone may see it. */
export function withoutSealed(result: Record<string, unknown> | null): Record<string, unknown> | null {
  if (!result || !(SEALED_KEY in result)) return result;
  const { [SEALED_KEY]: _sealed, ...rest } = result;
  return rest;
}

export function sealedOf(result: Record<string, unknown> | null): SealedSecrets | null {
  const s = result?.[SEALED_KEY];
  if (!s || typeof s !== "object") return null;
  return Object.fromEntries(Object.entries(s).filter((e): e is [string, string] => typeof e[1] === "string"));
}

export function openSecrets(box: SecretBox, sealed: SealedSecrets): Record<string, string> {
  return Object.fromEntries(Object.entries(sealed).map(([k, v]) => [k, box.open(v)]));
}
