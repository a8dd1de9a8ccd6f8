/**
 * A state backup on disk or in S3: one file, `MAGIC`, a JSON header line (readable without the
 * key: id, time, host, which recovery key, the ephemeral public key and the IV), then the
 * AES-256-GCM ciphertext and its 16-byte tag. The header line is the cipher's additional data,
 * so an edited header fails authentication like edited ciphertext does.
 */
import {
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
} from "node:crypto";
import { z } from "zod";
import { Invalid, issuesText } from "../errors";
import { type RecoveryPrivateKey, type RecoveryPublicKey, sharedSecret } from "./recovery-key";

export const MAGIC = "ODOOOPS-STATE-BACKUP-1\n";
const TAG_BYTES = 16;
/** Headers are small; a bigger "header" is garbage, not a backup. */
const MAX_HEADER = 4096;

export const EnvelopeHeaderSchema = z
  .object({
    id: z.string().regex(/^state-\d{8}T\d{6}Z-[a-z0-9]{6}$/),
    createdAt: z.string().datetime(),
    host: z.string().max(255),
    version: z.string().max(64),
    /** Fingerprint of the recovery key that can open it. */
    recipient: z.string().regex(/^[0-9a-f]{16}$/),
    /** Ephemeral X25519 public key, base64url. */
    ephemeral: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
    iv: z.string().regex(/^[A-Za-z0-9_-]{16}$/),
  })
  .strict();
export type EnvelopeHeader = z.infer<typeof EnvelopeHeaderSchema>;

function fileKey(shared: Buffer, ephemeralX: string, recipientX: string): Buffer {
  const salt = Buffer.concat([Buffer.from(ephemeralX, "base64url"), Buffer.from(recipientX, "base64url")]);
  return Buffer.from(hkdfSync("sha256", shared, salt, "odooops:state-backup:v1", 32));
}

export function seal(
  plain: Uint8Array,
  meta: Pick<EnvelopeHeader, "id" | "createdAt" | "host" | "version">,
  recipient: RecoveryPublicKey,
): Uint8Array {
  const eph = generateKeyPairSync("x25519");
  const ephemeral = eph.publicKey.export({ format: "jwk" }).x;
  if (!ephemeral) throw new Error("X25519 public key export without x");
  const iv = randomBytes(12);
  const header: EnvelopeHeader = { ...meta, recipient: recipient.fingerprint, ephemeral, iv: iv.toString("base64url") };
  const headerLine = Buffer.from(`${JSON.stringify(header)}\n`);
  const cipher = createCipheriv(
    "aes-256-gcm",
    fileKey(sharedSecret(eph.privateKey, recipient.key), ephemeral, recipient.x),
    iv,
  );
  cipher.setAAD(headerLine);
  const body = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  return Buffer.concat([Buffer.from(MAGIC), headerLine, body]);
}

/** The header alone (listing, choosing): no key needed, nothing authenticated yet. */
export function readHeader(bytes: Uint8Array): { header: EnvelopeHeader; headerLine: Buffer; body: Buffer } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < MAGIC.length || buf.subarray(0, MAGIC.length).toString() !== MAGIC)
    throw new Invalid("not an odooops state backup (wrong magic)");
  const end = buf.indexOf(0x0a, MAGIC.length);
  if (end < 0 || end - MAGIC.length > MAX_HEADER) throw new Invalid("not an odooops state backup (no header line)");
  const headerLine = buf.subarray(MAGIC.length, end + 1);
  let parsed: unknown;
  try {
    parsed = JSON.parse(headerLine.toString("utf8"));
  } catch {
    throw new Invalid("state backup header is not JSON");
  }
  const r = EnvelopeHeaderSchema.safeParse(parsed);
  if (!r.success) throw new Invalid(`state backup header is invalid: ${issuesText(r.error)}`);
  const body = buf.subarray(end + 1);
  if (body.length < TAG_BYTES) throw new Invalid("state backup is truncated");
  return { header: r.data, headerLine, body };
}

/** Decrypts and authenticates; any change to header or body is refused. */
export function open(bytes: Uint8Array, key: RecoveryPrivateKey): { header: EnvelopeHeader; plain: Buffer } {
  const { header, headerLine, body } = readHeader(bytes);
  if (header.recipient !== key.publicKey.fingerprint) {
    throw new Invalid(
      `state backup ${header.id} was encrypted for recovery key ${header.recipient}; the key given is ${key.publicKey.fingerprint}`,
    );
  }
  const ephemeralKey = createPublicKey({ key: { kty: "OKP", crv: "X25519", x: header.ephemeral }, format: "jwk" });
  const decipher = createDecipheriv(
    "aes-256-gcm",
    fileKey(sharedSecret(key.key, ephemeralKey), header.ephemeral, key.publicKey.x),
    Buffer.from(header.iv, "base64url"),
  );
  decipher.setAAD(headerLine);
  decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
  try {
    const plain = Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
    return { header, plain };
  } catch {
    throw new Invalid(`state backup ${header.id} failed authentication: it is damaged or was altered`);
  }
}
