/** GitHub's `X-Hub-Signature-256`: `sha256=` + hex HMAC-SHA256 of the raw request body. */
import { createHmac, timingSafeEqual } from "node:crypto";

export function signBody(secret: string, body: Uint8Array): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** Constant-time: the comparison never reveals how many leading characters matched. */
export function signatureValid(secret: string, body: Uint8Array, header: string | undefined): boolean {
  if (!header || !/^sha256=[0-9a-f]{64}$/.test(header)) return false;
  return timingSafeEqual(Buffer.from(signBody(secret, body)), Buffer.from(header));
}
