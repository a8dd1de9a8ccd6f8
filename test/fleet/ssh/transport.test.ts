/**
 * The SSH transport against a real OpenSSH sshd on 127.0.0.1 (test host key, test user key):
 * host-key trust, argv through the real remote shell, exit codes, timeout, cancel, SFTP upload.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../../../src/exec/run";
import { HostKeyRefused, SshSession, type SshTarget } from "../../../src/fleet/ssh/connection";
import { fingerprint } from "../../../src/fleet/ssh/known-hosts";
import { startSshd, type TestSshd } from "../../support/sshd";
import { makeTempDir, removeTempDir } from "../../support/tmp";

let dir: string;
let sshd: TestSshd;
let target: SshTarget;
let hostFp: string;

beforeAll(async () => {
  dir = makeTempDir("odooops-ssh-");
  sshd = await startSshd(dir);
  await sshd.start("one");
  await run({ argv: ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", join(dir, "user")] });
  writeFileSync(join(dir, "authorized_keys"), await Bun.file(join(dir, "user.pub")).text());
  hostFp = fingerprint(Buffer.from(await sshd.publicKey("one"), "base64"));
  target = {
    host: "127.0.0.1",
    port: sshd.port,
    username: "root",
    identityFile: join(dir, "user"),
    knownHostsFiles: [],
  };
});

afterAll(async () => {
  await sshd?.stop();
  removeTempDir(dir);
});

async function refusal(t: SshTarget): Promise<HostKeyRefused> {
  const e = await SshSession.connect(t, {}).then(
    (s) => {
      s.close();
      return null;
    },
    (err) => err,
  );
  expect(e).toBeInstanceOf(HostKeyRefused);
  return e as HostKeyRefused;
}

describe("host key", () => {
  test("unknown: refused with the host's fingerprint and the flag that pins it", async () => {
    const e = await refusal(target);
    expect(e.reason).toBe("unknown");
    expect(e.fingerprint).toBe(hostFp);
    expect(e.message).toContain(`--fingerprint ${hostFp}`);
  });

  test("pinned fingerprint accepted; a wrong one refused loudly", async () => {
    const s = await SshSession.connect({ ...target, fingerprint: hostFp }, {});
    expect(s.hostKey.how).toBe(`pinned fingerprint ${hostFp}`);
    s.close();
    const e = await refusal({ ...target, fingerprint: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" });
    expect(e.reason).toBe("mismatch");
    expect(e.message).toContain("HOST KEY MISMATCH");
  });

  test("known_hosts, plain and hashed (ssh-keygen -H); a changed server key is a mismatch", async () => {
    const kh = join(dir, "known_hosts");
    writeFileSync(kh, `[127.0.0.1]:${sshd.port} ssh-ed25519 ${await sshd.publicKey("one")}\n`);
    const s = await SshSession.connect({ ...target, knownHostsFiles: [join(dir, "nope"), kh] }, {});
    expect(s.hostKey.how).toBe(`known_hosts ${kh}`);
    s.close();
    await run({ argv: ["ssh-keygen", "-q", "-H", "-f", kh] });
    expect(await Bun.file(kh).text()).toStartWith("|1|");
    const h = await SshSession.connect({ ...target, knownHostsFiles: [kh] }, {});
    h.close();
    // The man in the middle: same address, another key.
    await sshd.start("two");
    try {
      const e = await refusal({ ...target, knownHostsFiles: [kh] });
      expect(e.reason).toBe("mismatch");
      expect(e.fingerprint).toBe(fingerprint(Buffer.from(await sshd.publicKey("two"), "base64")));
    } finally {
      await sshd.start("one");
    }
  });

  test("no credential at all: a clear refusal before connecting", async () => {
    const { identityFile: _, ...noKey } = target;
    await expect(SshSession.connect({ ...noKey, fingerprint: hostFp }, {})).rejects.toThrow("pass --identity FILE");
  });
});

describe("remote commands", () => {
  let s: SshSession;
  beforeAll(async () => {
    s = await SshSession.connect({ ...target, fingerprint: hostFp }, {});
  });
  afterAll(() => s?.close());

  test("hostile argv round-trips through the real remote shell exactly (printf '%s\\0')", async () => {
    const marker = join(dir, "pwned");
    const args = [
      `x;rm -rf /;touch ${marker}`,
      `$(touch ${marker})`,
      `\`touch ${marker}\``,
      'it\'s "quoted"',
      "'",
      "",
      "two\nlines",
      " lead and trail ",
      "*",
      "$HOME ~ \\ | & > <",
      "-n",
    ];
    const r = await s.exec(["printf", "%s\\0", ...args]);
    expect(r.stdout.split("\0").slice(0, -1)).toEqual(args);
    expect(existsSync(marker)).toBe(false);
  });

  test("exit code, stdout, stderr, stdin; non-zero throws with the stderr tail unless nothrow", async () => {
    const r = await s.exec(["sh", "-c", "cat; echo err >&2; exit 3", "x"], { stdin: "in\n", nothrow: true });
    expect(r).toMatchObject({ exitCode: 3, stdout: "in\n", stderr: "err\n" });
    await expect(s.exec(["sh", "-c", "echo boom >&2; exit 4"])).rejects.toThrow(/exited with 4[\s\S]*boom/);
    expect((await s.exec(["no-such-program-odooops"], { nothrow: true })).exitCode).toBe(127);
  });

  test("timeout and cancel stop the command and say so", async () => {
    await expect(s.exec(["sleep", "30"], { timeoutMs: 300 })).rejects.toThrow("timed out after 300 ms");
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    await expect(s.exec(["sleep", "30"], { signal: ac.signal })).rejects.toThrow("remote command cancelled");
    // The session still works afterwards.
    expect((await s.exec(["echo", "ok"])).stdout).toBe("ok\n");
  });

  test("SFTP upload: checksum verified remotely, renamed into place, mode kept, no leftovers", async () => {
    const src = join(dir, "payload.bin");
    const bytes = crypto.getRandomValues(new Uint8Array(3 * 1024 * 1024 + 17));
    writeFileSync(src, bytes);
    const destDir = makeTempDir("odooops-ssh-dest-");
    try {
      const dest = join(destDir, "odooops");
      writeFileSync(dest, "old");
      const { sha256, bytes: n } = await s.upload(src, dest, 0o755);
      expect(n).toBe(bytes.length);
      expect(sha256).toBe(new Bun.CryptoHasher("sha256").update(bytes).digest("hex"));
      expect(new Uint8Array(await Bun.file(dest).arrayBuffer())).toEqual(bytes);
      expect(await s.remoteSha256(dest)).toBe(sha256);
      expect((await Bun.file(dest).stat()).mode & 0o777).toBe(0o755);
      expect(readdirSync(destDir)).toEqual(["odooops"]);
      // A directory the upload cannot write: the error comes back, nothing is left behind.
      const ro = join(destDir, "ro");
      await run({ argv: ["mkdir", ro] });
      chmodSync(ro, 0o555);
      await expect(s.upload(src, join(ro, "sub", "x"))).rejects.toThrow();
      expect(readdirSync(ro)).toEqual([]);
      expect(await s.remoteSha256(join(destDir, "missing"))).toBeNull();
    } finally {
      removeTempDir(destDir);
    }
  });
});
