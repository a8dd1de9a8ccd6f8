/**
 * Quoting for the statements PostgreSQL cannot parametrize (DDL). Identifiers are validated
 * against a strict pattern before quoting, so quoting is belt and braces, never the only guard.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { Invalid } from "../../errors";

export const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

/** Throws Invalid unless `name` is a lowercase identifier odooops may create (≤ 63 bytes). */
export function assertIdent(name: string, kind = "identifier"): string {
  if (!IDENT.test(name)) throw new Invalid(`invalid ${kind} name ${JSON.stringify(name)}: must match ${IDENT}`);
  return name;
}

export function quoteIdent(name: string, kind?: string): string {
  return `"${assertIdent(name, kind).replace(/"/g, '""')}"`;
}

/**
 * A standard-conforming string literal. Backslashes are literal under
 * standard_conforming_strings = on (the default since 9.1; ops check it before relying on this).
 */
export function quoteLiteral(value: string): string {
  if (value.includes("\0")) throw new Invalid("string literal contains a NUL byte");
  return `'${value.replace(/'/g, "''")}'`;
}

const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/**
 * The SCRAM-SHA-256 verifier PostgreSQL would store for `password`. Sending the verifier instead
 * of the password keeps the plaintext out of server logs (log_statement, pg_stat_statements).
 * Restricted to printable ASCII, where SASLprep is the identity, so clients hash it identically.
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  if (!PRINTABLE_ASCII.test(password)) throw new Invalid("database passwords must be non-empty printable ASCII");
  const salted = pbkdf2Sync(password, salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}
