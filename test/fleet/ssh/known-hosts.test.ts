/** known_hosts reading and the host-key verdict, pure (the real sshd test covers the wire). */
import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { fingerprint, hostPattern, knownKeys, verifyHostKey } from "../../../src/fleet/ssh/known-hosts";

// Two ed25519 public key blobs (ssh-keygen output), as known_hosts carries them.
const A = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C7okWi4dIx9kFP0C";
const B = "AAAAC3NzaC1lZDI1NTE5AAAAIFk8z5Q2yYWf7uPg9l0LmFDs2tO4RmhyfJ6Lz3Sbl7xV";
const blob = (b64: string) => Buffer.from(b64, "base64");

function hashed(name: string, salt = Buffer.from("0123456789abcdefghij")): string {
  return `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(name).digest("base64")}`;
}

describe("known_hosts", () => {
  test("fingerprint is OpenSSH's SHA256:base64 without padding", () => {
    expect(fingerprint(blob(A))).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(fingerprint(blob(A))).not.toBe(fingerprint(blob(B)));
  });

  test("names: bare for port 22, [host]:port otherwise; plain, lists, hashed, negated, revoked", () => {
    expect(hostPattern("10.0.0.5", 22)).toBe("10.0.0.5");
    expect(hostPattern("10.0.0.5", 2222)).toBe("[10.0.0.5]:2222");
    const text = [
      "# comment",
      `other,10.0.0.5 ssh-ed25519 ${A}`,
      `${hashed("[127.0.0.1]:2222")} ssh-ed25519 ${B}`,
      `*.example ssh-ed25519 ${B}`,
      `!10.0.0.9,10.0.0.9 ssh-ed25519 ${A}`,
      `@revoked 10.0.0.7 ssh-ed25519 ${A}`,
      `@cert-authority 10.0.0.5 ssh-ed25519 ${B}`,
    ].join("\n");
    expect(knownKeys(text, "10.0.0.5").map((k) => k.key.toString("base64"))).toEqual([A]);
    expect(knownKeys(text, "[127.0.0.1]:2222").map((k) => k.key.toString("base64"))).toEqual([B]);
    expect(knownKeys(text, "127.0.0.1")).toEqual([]);
    expect(knownKeys(text, "a.example")).toEqual([]);
    expect(knownKeys(text, "10.0.0.9")).toEqual([]);
    expect(knownKeys(text, "10.0.0.7")[0]?.revoked).toBe(true);
  });

  test("verdicts: known, unknown (with the pin flag), mismatch, revoked, pinned, wrong pin", () => {
    const files = [{ file: "/k", text: `10.0.0.5 ssh-ed25519 ${A}\n@revoked 10.0.0.7 ssh-ed25519 ${A}\n` }];
    expect(verifyHostKey({ host: "10.0.0.5", port: 22, keyBlob: blob(A), knownHosts: files })).toEqual({
      ok: true,
      how: "known_hosts /k",
    });
    const unknown = verifyHostKey({ host: "10.0.0.6", port: 2222, keyBlob: blob(A), knownHosts: files });
    expect(unknown.ok).toBe(false);
    if (!unknown.ok) {
      expect(unknown.reason).toBe("unknown");
      expect(unknown.message).toContain(`--fingerprint ${fingerprint(blob(A))}`);
      expect(unknown.message).toContain("10.0.0.6 port 2222");
    }
    const mismatch = verifyHostKey({ host: "10.0.0.5", port: 22, keyBlob: blob(B), knownHosts: files });
    expect(!mismatch.ok && mismatch.reason).toBe("mismatch");
    expect(!mismatch.ok && mismatch.message).toContain("HOST KEY MISMATCH");
    const revoked = verifyHostKey({ host: "10.0.0.7", port: 22, keyBlob: blob(A), knownHosts: files });
    expect(!revoked.ok && revoked.reason).toBe("revoked");
    const pinned = verifyHostKey({
      host: "x",
      port: 22,
      keyBlob: blob(B),
      pinned: fingerprint(blob(B)),
      knownHosts: [],
    });
    expect(pinned.ok).toBe(true);
    // A pin wins over the files: a known key that is not the pinned one is refused.
    const wrong = verifyHostKey({
      host: "10.0.0.5",
      port: 22,
      keyBlob: blob(A),
      pinned: fingerprint(blob(B)),
      knownHosts: files,
    });
    expect(!wrong.ok && wrong.reason).toBe("mismatch");
  });
});
