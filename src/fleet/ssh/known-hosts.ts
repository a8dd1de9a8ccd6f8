/**
 * Host-key trust: OpenSSH known_hosts lines (plain, `[host]:port`, hashed `|1|salt|hmac`,
 * `@revoked`) and pinned `SHA256:` fingerprints, as pure functions over the key blob the server
 * presented. A missing entry and a different key are different answers: the first asks the
 * operator to pin, the second is what a man in the middle looks like.
 */
import { createHash, createHmac } from "node:crypto";

/** OpenSSH's format: base64 of the SHA-256 of the key blob, without padding. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

/** The name known_hosts stores: bare for port 22, `[host]:port` otherwise. */
export function hostPattern(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export interface KnownKey {
  keyType: string;
  key: Buffer;
  revoked: boolean;
}

function matchesName(field: string, name: string): boolean {
  if (field.startsWith("|1|")) {
    const [, , salt, hash] = field.split("|");
    if (!salt || !hash) return false;
    const mac = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64");
    return mac === hash;
  }
  // Plain entries: comma-separated names; a `!` negates. Wildcards are not honoured: a host key
  // is trusted for the names written, never for a pattern that happens to cover more hosts.
  const names = field.split(",");
  if (names.some((n) => n === `!${name}`)) return false;
  return names.includes(name);
}

/** The keys known_hosts text holds for `name` (as hostPattern builds it). */
export function knownKeys(text: string, name: string): KnownKey[] {
  const out: KnownKey[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const parts = line.split(/\s+/);
    let revoked = false;
    if (parts[0]?.startsWith("@")) {
      // @cert-authority lines vouch for certificates, which host add does not use.
      if (parts[0] !== "@revoked") continue;
      revoked = true;
      parts.shift();
    }
    const [names, keyType, key] = parts;
    if (!names || !keyType || !key || !matchesName(names, name)) continue;
    out.push({ keyType, key: Buffer.from(key, "base64"), revoked });
  }
  return out;
}

export type HostKeyVerdict =
  | { ok: true; how: string }
  | { ok: false; reason: "unknown" | "mismatch" | "revoked"; fingerprint: string; message: string };

/**
 * Decides on the presented key. `pinned` (a `SHA256:` fingerprint) wins over the files; the
 * files are read in order and any entry for the name counts.
 */
export function verifyHostKey(opts: {
  host: string;
  port: number;
  keyBlob: Buffer;
  pinned?: string;
  knownHosts: { file: string; text: string }[];
}): HostKeyVerdict {
  const fp = fingerprint(opts.keyBlob);
  const target = opts.port === 22 ? opts.host : `${opts.host} port ${opts.port}`;
  const pin = `--fingerprint ${fp}`;
  if (opts.pinned !== undefined) {
    if (opts.pinned === fp) return { ok: true, how: `pinned fingerprint ${fp}` };
    return {
      ok: false,
      reason: "mismatch",
      fingerprint: fp,
      message: `HOST KEY MISMATCH for ${target}: it presented ${fp}, but --fingerprint pins ${opts.pinned}. Someone may be intercepting the connection (or the host was reinstalled); nothing was done.`,
    };
  }
  const name = hostPattern(opts.host, opts.port);
  let sawOther: string | null = null;
  for (const { file, text } of opts.knownHosts) {
    for (const k of knownKeys(text, name)) {
      if (!k.key.equals(opts.keyBlob)) {
        sawOther ??= file;
        continue;
      }
      if (k.revoked)
        return {
          ok: false,
          reason: "revoked",
          fingerprint: fp,
          message: `the host key ${fp} of ${target} is marked @revoked in ${file}; nothing was done`,
        };
      return { ok: true, how: `known_hosts ${file}` };
    }
  }
  if (sawOther)
    return {
      ok: false,
      reason: "mismatch",
      fingerprint: fp,
      message: `HOST KEY MISMATCH for ${target}: it presented ${fp}, which is not the key ${sawOther} records for it. Someone may be intercepting the connection (or the host was reinstalled: remove the old entry with ssh-keygen -R '${name}'); nothing was done.`,
    };
  return {
    ok: false,
    reason: "unknown",
    fingerprint: fp,
    message: `the host key of ${target} is not known (${fp}). Check it on the host (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then pin it with ${pin}`,
  };
}
