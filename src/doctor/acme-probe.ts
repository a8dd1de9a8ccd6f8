/** GET of the ACME directory (RFC 8555 §7.1.1), shared by the acme and clock checks. */
import { readFileSync } from "node:fs";
import { errorText } from "../errors";

export type AcmeDirectoryProbe =
  | { ok: true; url: string; date: Date | null }
  | { ok: false; error: string; date?: Date | null };

const TIMEOUT_MS = 10_000;

/** The server's clock from a response's Date header (second resolution), or null. */
export function responseDate(res: Response): Date | null {
  const h = res.headers.get("date");
  const t = h ? Date.parse(h) : Number.NaN;
  return Number.isNaN(t) ? null : new Date(t);
}

export async function probeAcmeDirectory(acme: { directoryUrl: string; caFile?: string }): Promise<AcmeDirectoryProbe> {
  const url = acme.directoryUrl;
  try {
    const ca = acme.caFile ? readFileSync(acme.caFile, "utf8") : undefined;
    const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS), ...(ca ? { tls: { ca } } : {}) });
    const date = responseDate(res);
    if (!res.ok) return { ok: false, error: `${url} answered HTTP ${res.status}`, date };
    const body = (await res.json().catch(() => null)) as Record<string, unknown> | null;
    const missing = ["newNonce", "newAccount", "newOrder"].filter((k) => typeof body?.[k] !== "string");
    if (missing.length > 0)
      return { ok: false, error: `${url} is not an ACME directory (no ${missing.join(", ")})`, date };
    return { ok: true, url, date };
  } catch (e) {
    return {
      ok: false,
      error: `${url}: ${(e as Error).name === "TimeoutError" ? `no answer within ${TIMEOUT_MS / 1000} s` : errorText(e, { code: true })}`,
    };
  }
}
