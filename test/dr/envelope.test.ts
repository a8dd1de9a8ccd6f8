/** The state backup format: encryption for the recovery key, the bundle inside, ids and keys. */
import { describe, expect, test } from "bun:test";
import { resolvePaths } from "../../src/config/paths";
import { pack, stateFilePath, unpack } from "../../src/dr/bundle";
import { MAGIC, open, readHeader, seal } from "../../src/dr/envelope";
import { generateRecoveryKey, parseRecoveryPrivateKey, parseRecoveryPublicKey } from "../../src/dr/recovery-key";
import { assertStateBackupId, idTime, stateBackupId } from "../../src/dr/store";

const meta = {
  id: "state-20261205T030000Z-abc123",
  createdAt: "2026-12-05T03:00:00.000Z",
  host: "h1",
  version: "0.0.0",
};
const files = [
  { name: "state.db" as const, bytes: new Uint8Array([1, 2, 3, 4]) },
  { name: "secret.key" as const, bytes: Buffer.from("host-secret-key-material\n") },
];

function keys() {
  const k = generateRecoveryKey();
  return { priv: parseRecoveryPrivateKey(k.privateText), pub: parseRecoveryPublicKey(k.publicText), k };
}

describe("recovery key", () => {
  test("the private key text derives the public key init kept", () => {
    const { priv, pub, k } = keys();
    expect(priv.publicKey.x).toBe(pub.x);
    expect(pub.fingerprint).toBe(k.fingerprint);
    expect(k.privateText).toMatch(/^ODOOOPS-RECOVERY-KEY-1-[A-Za-z0-9_-]{43}$/);
    expect(k.publicText).not.toContain(k.privateText.slice(-43));
  });

  test("malformed keys are refused with what was expected", () => {
    expect(() => parseRecoveryPrivateKey("ODOOOPS-RECOVERY-KEY-1-short")).toThrow(/not a recovery key/);
    expect(() => parseRecoveryPrivateKey(generateRecoveryKey().publicText)).toThrow(/not a recovery key/);
    expect(() => parseRecoveryPublicKey(generateRecoveryKey().privateText)).toThrow(/not a recovery public key/);
  });
});

describe("envelope", () => {
  test("round trip; the header is readable without the key, the content is not in clear", () => {
    const { priv, pub } = keys();
    const sealed = seal(pack(files), meta, pub);
    expect(Buffer.from(sealed).subarray(0, MAGIC.length).toString()).toBe(MAGIC);
    expect(Buffer.from(sealed).includes(Buffer.from("host-secret-key-material"))).toBe(false);
    expect(readHeader(sealed).header).toMatchObject({ ...meta, recipient: pub.fingerprint });
    const { header, plain } = open(sealed, priv);
    expect(header.id).toBe(meta.id);
    const out = unpack(plain).files;
    expect(out.map((f) => [f.name, Buffer.from(f.bytes).toString("hex")])).toEqual(
      files.map((f) => [f.name, Buffer.from(f.bytes).toString("hex")]),
    );
  });

  test("another recovery key cannot open it, and says which key it needs", () => {
    const { pub } = keys();
    const other = keys().priv;
    expect(() => open(seal(pack(files), meta, pub), other)).toThrow(`encrypted for recovery key ${pub.fingerprint}`);
  });

  test("a key that only claims the right fingerprint fails authentication", () => {
    const { pub } = keys();
    const sealed = Buffer.from(seal(pack(files), meta, pub));
    const liar = keys().priv;
    // Same fingerprint as the recipient, different secret: the maths refuses, not the label.
    const forged = { key: liar.key, publicKey: { ...liar.publicKey, fingerprint: pub.fingerprint, x: pub.x } };
    expect(() => open(sealed, forged)).toThrow(/failed authentication/);
  });

  test("one flipped bit in the body, or an edited header, fails authentication", () => {
    const { priv, pub } = keys();
    const sealed = Buffer.from(seal(pack(files), meta, pub));
    const body = Buffer.from(sealed);
    body[body.length - 20] ^= 1;
    expect(() => open(body, priv)).toThrow(/failed authentication/);
    const edited = Buffer.from(sealed.toString("latin1").replace('"host":"h1"', '"host":"h2"'), "latin1");
    expect(edited.equals(sealed)).toBe(false);
    expect(() => open(edited, priv)).toThrow(/failed authentication/);
  });

  test("garbage, a truncated file and a bad header are refused as such", () => {
    const { priv, pub } = keys();
    const sealed = Buffer.from(seal(pack(files), meta, pub));
    expect(() => open(Buffer.from("PK\x03\x04 not a backup"), priv)).toThrow(/wrong magic/);
    expect(() => open(sealed.subarray(0, sealed.indexOf(0x0a, MAGIC.length) + 5), priv)).toThrow(/truncated/);
    expect(() => open(Buffer.from(`${MAGIC}{"id":"../x"}\n${"x".repeat(32)}`), priv)).toThrow(/header is invalid/);
  });
});

describe("bundle", () => {
  test("a changed byte, trailing bytes, an unknown or repeated name, no state.db: refused", () => {
    const good = pack(files);
    const changed = Buffer.from(good);
    changed[changed.length - 3] ^= 1;
    expect(() => unpack(changed)).toThrow(/secret.key does not match its checksum/);
    expect(() => unpack(Buffer.concat([good, Buffer.from("x")]))).toThrow(/trailing bytes/);
    const manifest = (fs: unknown[]) => Buffer.from(`${JSON.stringify({ files: fs })}\n`);
    const sha = "0".repeat(64);
    expect(() =>
      unpack(
        manifest([
          { name: "state.db", size: 0, sha256: sha },
          { name: "../../etc/passwd", size: 0, sha256: sha },
        ]),
      ),
    ).toThrow(/manifest is invalid/);
    expect(() => unpack(manifest([{ name: "config.yaml", size: 0, sha256: sha }]))).toThrow(/state.db is missing/);
    expect(() =>
      unpack(
        manifest([
          { name: "state.db", size: 0, sha256: sha },
          { name: "state.db", size: 0, sha256: sha },
        ]),
      ),
    ).toThrow(/listed twice/);
    expect(() =>
      unpack(Buffer.concat([manifest([{ name: "state.db", size: 10, sha256: sha }]), Buffer.from("abc")])),
    ).toThrow(/truncated in state.db/);
  });

  test("logical names map to this host's paths only", () => {
    const paths = resolvePaths("/r");
    expect(stateFilePath(paths, "state.db")).toBe("/r/state/odooops.db");
    expect(stateFilePath(paths, "secret.key")).toBe("/r/etc/secret.key");
    expect(stateFilePath(paths, "recovery.pub")).toBe("/r/etc/recovery.pub");
  });
});

describe("ids", () => {
  test("an id carries its UTC time; anything else is not a state backup", () => {
    const id = stateBackupId(new Date("2026-12-05T03:04:05.678Z"), "a1b2c3");
    expect(id).toBe("state-20261205T030405Z-a1b2c3");
    expect(idTime(id)).toBe("2026-12-05T03:04:05.000Z");
    expect(idTime("state-20261305T030405Z-a1b2c3")).toBeNull();
    expect(idTime("../state-20261205T030405Z-a1b2c3")).toBeNull();
    expect(() => assertStateBackupId("state-x/../../y")).toThrow(/invalid state backup id/);
  });
});
