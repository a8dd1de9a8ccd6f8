/** Odoo's password check (passlib pbkdf2-sha512, as CryptContext.verify does it) for attack tests. */
import { pbkdf2Sync, timingSafeEqual } from "node:crypto";

const ab64 = (s: string) => Buffer.from(s.replace(/\./g, "+"), "base64");

export function odooPasswordMatches(password: string, hash: string | null): boolean {
  const [, scheme, rounds, salt, dk] = (hash ?? "").split("$");
  if (scheme !== "pbkdf2-sha512" || !rounds || salt === undefined || !dk) return false;
  const expected = ab64(dk);
  const got = pbkdf2Sync(password, ab64(salt), Number(rounds), expected.length, "sha512");
  return got.length === expected.length && timingSafeEqual(got, expected);
}
