import { randomBytes } from "node:crypto";

/** API tokens look like `odo_<43 chars>`; only their sha256 is stored. */
export const TOKEN_PREFIX = "odo_";

export function newApiToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

export function hashToken(token: string): string {
  return new Bun.CryptoHasher("sha256").update(token).digest("hex");
}

/** Days an API token lives when its creator names no expiry. */
export const TOKEN_DEFAULT_DAYS = 90;
