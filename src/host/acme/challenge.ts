/**
 * HTTP-01 answers as files in the ACME webroot, served by every vhost's
 * `location ^~ /.well-known/acme-challenge/ { root <acmeWebroot>; }`. World-readable: nginx
 * workers run unprivileged. The token comes from the CA, so it is checked before it names a file.
 */
import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AcmeFailed } from "./errors";

const TOKEN = /^[A-Za-z0-9_-]{16,256}$/;

export function challengeDir(acmeWebroot: string): string {
  return join(acmeWebroot, ".well-known", "acme-challenge");
}

export function challengeFile(acmeWebroot: string, token: string): string {
  if (!TOKEN.test(token))
    throw new AcmeFailed(`the CA sent a malformed challenge token: ${JSON.stringify(token.slice(0, 80))}`);
  return join(challengeDir(acmeWebroot), token);
}

export function writeChallenge(acmeWebroot: string, token: string, keyAuthorization: string): string {
  const file = challengeFile(acmeWebroot, token);
  mkdirSync(challengeDir(acmeWebroot), { recursive: true, mode: 0o755 });
  writeFileSync(file, keyAuthorization, { mode: 0o644 });
  chmodSync(file, 0o644);
  return file;
}

export function removeChallenge(acmeWebroot: string, token: string): void {
  rmSync(challengeFile(acmeWebroot, token), { force: true });
}
