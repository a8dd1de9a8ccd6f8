/**
 * The user file of nginx's `auth_basic`: one `user:hash` line. The hash is SHA-512 crypt (`$6$`,
 * Drepper's algorithm, 5000 rounds), which nginx checks with the system's crypt(3) (glibc and
 * libxcrypt both have it); stronger than the formats nginx verifies itself ({SSHA}, apr1).
 */
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, chownSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Invalid } from "../../errors";
import { assertSlug } from "./render";

const ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ROUNDS = 5000;
const SALT = /^[./0-9A-Za-z]{1,16}$/;
const USER = /^[a-z0-9][a-z0-9-]{0,62}$/;

function sha512(...parts: Buffer[]): Buffer {
  const h = createHash("sha512");
  for (const p of parts) h.update(p);
  return h.digest();
}

/** `len` bytes of `block` repeated. */
function repeatTo(block: Buffer, len: number): Buffer {
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i += block.length) block.copy(out, i, 0, Math.min(block.length, len - i));
  return out;
}

function b64from24(b2: number, b1: number, b0: number, n: number): string {
  let w = (b2 << 16) | (b1 << 8) | b0;
  let out = "";
  for (let i = 0; i < n; i++) {
    out += ITOA64[w & 0x3f];
    w >>= 6;
  }
  return out;
}

/** `$6$<salt>$<hash>` as crypt(3) computes it for the default round count. */
export function sha512Crypt(password: string, salt: string = randomSalt()): string {
  if (!SALT.test(salt)) throw new Invalid("sha512-crypt salt: 1-16 characters of [./0-9A-Za-z]");
  const p = Buffer.from(password, "utf8");
  const s = Buffer.from(salt, "ascii");
  const b = sha512(p, s, p);
  const a = createHash("sha512").update(p).update(s).update(repeatTo(b, p.length));
  for (let n = p.length; n > 0; n >>= 1) a.update(n & 1 ? b : p);
  let c = a.digest();
  const pBytes = repeatTo(sha512(...Array<Buffer>(p.length).fill(p)), p.length);
  const sBytes = repeatTo(sha512(...Array<Buffer>(16 + (c[0] ?? 0)).fill(s)), s.length);
  for (let r = 0; r < ROUNDS; r++) {
    const h = createHash("sha512");
    h.update(r & 1 ? pBytes : c);
    if (r % 3) h.update(sBytes);
    if (r % 7) h.update(pBytes);
    h.update(r & 1 ? c : pBytes);
    c = h.digest();
  }
  let out = "";
  for (let k = 0; k < 21; k++) {
    const [x, y, z] = [c[k] ?? 0, c[k + 21] ?? 0, c[k + 42] ?? 0];
    out += k % 3 === 0 ? b64from24(x, y, z, 4) : k % 3 === 1 ? b64from24(y, z, x, 4) : b64from24(z, x, y, 4);
  }
  out += b64from24(0, 0, c[63] ?? 0, 2);
  return `$6$${salt}$${out}`;
}

function randomSalt(): string {
  return [...randomBytes(16)].map((b) => ITOA64[b & 0x3f]).join("");
}

export function htpasswdLine(user: string, password: string, salt?: string): string {
  if (!USER.test(user)) throw new Invalid(`htpasswd: invalid user ${JSON.stringify(user)}`);
  return `${user}:${sha512Crypt(password, salt)}\n`;
}

/** Beside the vhost, outside its `*.conf` include glob. */
export function htpasswdFile(sitesDir: string, slug: string): string {
  return join(sitesDir, `${assertSlug(slug)}.htpasswd`);
}

/** Atomically, 0640 root:`gid` (nginx's workers read it; nobody else but root). */
export function writeHtpasswd(file: string, text: string, gid: number): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, text, { mode: 0o640 });
  chmodSync(tmp, 0o640);
  chownSync(tmp, 0, gid);
  renameSync(tmp, file);
}

export function removeHtpasswd(file: string): void {
  rmSync(file, { force: true });
}

/** The gid of `name` from /etc/group. */
export function groupGid(name: string): number {
  const line = readFileSync("/etc/group", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  const gid = line ? Number(line.split(":")[2]) : Number.NaN;
  if (!Number.isInteger(gid))
    throw new Invalid(
      `group ${name} does not exist on this host (config nginx.group: the group nginx's workers run as)`,
    );
  return gid;
}
