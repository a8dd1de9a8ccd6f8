/**
 * Secrets at rest (env database passwords, webhook secrets): AES-256-GCM with a key file that
 * only root can read. Stored form: `v1:<iv>:<tag>:<ciphertext>` (base64url).
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { Invalid } from "../errors";
import { Secrets } from "../log";
import { readOrCreateSecretFile } from "./secret-file";

export class SecretBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Invalid("secret key must be 32 bytes");
  }

  static fromFile(file: string): SecretBox {
    return new SecretBox(
      Buffer.from(
        readOrCreateSecretFile(file, () => randomBytes(32).toString("base64url")),
        "base64url",
      ),
    );
  }

  /**
   * A 32-byte key for one purpose (HKDF-SHA256 over the host key): a key that authenticates,
   * say, backup manifests or the audit chain never doubles as the one that encrypts secrets, and
   * the master key itself never leaves this class.
   */
  derive(purpose: string): Buffer {
    return Buffer.from(hkdfSync("sha256", this.key, Buffer.alloc(0), `odooops:${purpose}`, 32));
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    const data = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
    return ["v1", iv.toString("base64url"), cipher.getAuthTag().toString("base64url"), data.toString("base64url")].join(
      ":",
    );
  }

  open(sealed: string): string {
    const [v, iv, tag, data] = sealed.split(":");
    if (v !== "v1" || !iv || !tag || data === undefined) throw new Invalid("not a sealed secret");
    const decipher = createDecipheriv("aes-256-gcm", this.key, Buffer.from(iv, "base64url"));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    const plain = Buffer.concat([decipher.update(Buffer.from(data, "base64url")), decipher.final()]).toString("utf8");
    Secrets.add(plain);
    return plain;
  }
}

/** URL-safe random secret (passwords, tokens). */
export function randomSecret(bytes = 24): string {
  return randomBytes(bytes).toString("base64url");
}
