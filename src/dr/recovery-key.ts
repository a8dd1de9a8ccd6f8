/**
 * The recovery key: an X25519 key pair that encrypts the control plane's state backups
 * (ECIES like age: an ephemeral X25519 key per backup, HKDF-SHA256, AES-256-GCM). Init makes
 * it and shows the private half once; only the public half stays on the host
 * (`<config dir>/recovery.pub`), so neither the host's disk nor the S3 bucket can open a backup.
 * The public half is root-only too: whoever knows it could encrypt a forged state backup, so
 * the bucket alone (which never holds it in clear) can neither read nor forge one.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { Invalid, errnoText } from "../errors";
import { Secrets } from "../log";

const PRIVATE_PREFIX = "ODOOOPS-RECOVERY-KEY-1-";
const PUBLIC_PREFIX = "odooops-recovery-pub-1:";
const B64URL_32 = /^[A-Za-z0-9_-]{43}$/;

export interface RecoveryPublicKey {
  /** Raw 32-byte X25519 public key, base64url. */
  x: string;
  key: KeyObject;
  /** Short, printable id (first 16 hex of sha256 of the raw key): names the key in backups. */
  fingerprint: string;
}

export interface RecoveryPrivateKey {
  key: KeyObject;
  publicKey: RecoveryPublicKey;
}

export function fingerprintOf(x: string): string {
  return createHash("sha256").update(Buffer.from(x, "base64url")).digest("hex").slice(0, 16);
}

function publicFromX(x: string): RecoveryPublicKey {
  const key = createPublicKey({ key: { kty: "OKP", crv: "X25519", x }, format: "jwk" });
  return { x, key, fingerprint: fingerprintOf(x) };
}

/** A new key pair as the two printable strings: the private one is shown once, the public one kept. */
export function generateRecoveryKey(): { privateText: string; publicText: string; fingerprint: string } {
  const pair = generateKeyPairSync("x25519");
  const jwk = pair.privateKey.export({ format: "jwk" });
  if (!jwk.d || !jwk.x) throw new Error("X25519 key export without d/x");
  Secrets.add(`${PRIVATE_PREFIX}${jwk.d}`);
  return {
    privateText: `${PRIVATE_PREFIX}${jwk.d}`,
    publicText: `${PUBLIC_PREFIX}${jwk.x}`,
    fingerprint: fingerprintOf(jwk.x),
  };
}

export function parseRecoveryPublicKey(text: string): RecoveryPublicKey {
  const t = text.trim();
  const x = t.startsWith(PUBLIC_PREFIX) ? t.slice(PUBLIC_PREFIX.length) : "";
  if (!B64URL_32.test(x))
    throw new Invalid(`not a recovery public key (expected ${PUBLIC_PREFIX}<43 base64url chars>)`);
  return publicFromX(x);
}

export function parseRecoveryPrivateKey(text: string): RecoveryPrivateKey {
  const t = text.trim();
  const d = t.startsWith(PRIVATE_PREFIX) ? t.slice(PRIVATE_PREFIX.length) : "";
  if (!B64URL_32.test(d))
    throw new Invalid(`not a recovery key (expected one line ${PRIVATE_PREFIX}<43 base64url chars>)`);
  Secrets.add(t);
  const key = createPrivateKey({ key: { kty: "OKP", crv: "X25519", d, x: "" }, format: "jwk" });
  const x = createPublicKey(key).export({ format: "jwk" }).x;
  if (!x) throw new Error("X25519 public key export without x");
  return { key, publicKey: publicFromX(x) };
}

export function readRecoveryPrivateKey(file: string): RecoveryPrivateKey {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new Invalid(`cannot read the recovery key file ${file}: ${errnoText(e)}`);
  }
  return parseRecoveryPrivateKey(text);
}

/** Null when this host has no recovery key yet (made before init created one). */
export function readRecoveryPublicKey(file: string): RecoveryPublicKey | null {
  if (!existsSync(file)) return null;
  return parseRecoveryPublicKey(readFileSync(file, "utf8"));
}

/**
 * Creates the host's recovery key when it has none. Returns the private key text only when it
 * was created now (the one moment it exists on this host); an existing key is left alone.
 */
export function ensureRecoveryKey(
  publicKeyFile: string,
): { created: true; privateText: string; fingerprint: string } | { created: false; fingerprint: string } {
  const existing = readRecoveryPublicKey(publicKeyFile);
  if (existing) return { created: false, fingerprint: existing.fingerprint };
  const k = generateRecoveryKey();
  mkdirSync(dirname(publicKeyFile), { recursive: true, mode: 0o750 });
  writeFileSync(publicKeyFile, `${k.publicText}\n`, { mode: 0o600, flag: "wx" });
  chmodSync(publicKeyFile, 0o600);
  return { created: true, privateText: k.privateText, fingerprint: k.fingerprint };
}

/** The shared secret of an ephemeral/recipient pair, the same from either side. */
export function sharedSecret(privateKey: KeyObject, publicKey: KeyObject): Buffer {
  return diffieHellman({ privateKey, publicKey });
}
