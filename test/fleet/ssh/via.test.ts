/**
 * `--via ssh://`: the real CLI (bun src/main.ts) reaches a daemon started by this test through a
 * real sshd; the coordinator side is `odooops api-stdio` as the SSH user (a forced command in
 * authorized_keys, so it runs on this test's root), using that user's local credential.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { parseHead } from "../../../src/cli/commands/api-stdio";
import { run } from "../../../src/exec/run";
import { fingerprint } from "../../../src/fleet/ssh/known-hosts";
import { parseVia } from "../../../src/fleet/ssh/via";
import { freePort } from "../../support/ports";
import { startSshd, type TestSshd } from "../../support/sshd";
import { makeTempDir, removeTempDir } from "../../support/tmp";

const REPO = resolve(import.meta.dir, "../../..");
let dir: string;
let root: string;
let emptyRoot: string;
let sshd: TestSshd;
let daemon: Subprocess | null = null;
let url: string;
let token: string;
let hostFp: string;

async function sshKey(name: string): Promise<string> {
  await run({ argv: ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", join(dir, name)] });
  return (await Bun.file(join(dir, `${name}.pub`)).text()).trim();
}

beforeAll(async () => {
  dir = makeTempDir("odooops-via-");
  root = makeTempDir("odooops-via-root-");
  emptyRoot = makeTempDir("odooops-via-empty-");
  const port = await freePort();
  daemon = Bun.spawn(["bun", join(REPO, "test/support/daemon-child.ts"), root, String(port)], {
    stdout: "ignore",
    stderr: "ignore",
  });
  url = `http://127.0.0.1:${port}/api/v1`;
  for (let i = 0; i < 600 && !token; i++) {
    const f = join(root, "run/local-token");
    if (
      existsSync(f) &&
      (await fetch(`${url}/health`).then(
        (r) => r.ok,
        () => false,
      ))
    )
      token = (await Bun.file(f).text()).trim();
    else await Bun.sleep(100);
  }
  expect(token).toBeTruthy();
  sshd = await startSshd(dir);
  await sshd.start("via");
  hostFp = fingerprint(Buffer.from(await sshd.publicKey("via"), "base64"));
  const main = join(REPO, "src/main.ts");
  const forced = (r: string) =>
    `command="env ODOOOPS_ROOT=${r} ${process.execPath} ${main} api-stdio",no-pty,no-port-forwarding`;
  writeFileSync(
    join(dir, "authorized_keys"),
    `${forced(root)} ${await sshKey("ops")}\n${forced(emptyRoot)} ${await sshKey("nobody")}\n`,
  );
});

afterAll(async () => {
  daemon?.kill(9);
  await sshd?.stop();
  for (const d of [dir, root, emptyRoot]) removeTempDir(d);
});

async function cli(key: string, ...argv: string[]) {
  const p = Bun.spawn(["bun", join(REPO, "src/main.ts"), ...argv], {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: dir,
      CI: "true",
      ODOOOPS_VIA_IDENTITY: join(dir, key),
      ODOOOPS_VIA_FINGERPRINT: hostFp,
      // Nothing of this side's reaches the coordinator: not a URL, not a token.
      ODOOOPS_URL: "http://127.0.0.1:9",
      ODOOOPS_TOKEN: "oo_bogus",
    },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { stdout, stderr, code };
}

describe("--via ssh://", () => {
  test("env list --json over SSH answers what the daemon answers directly", async () => {
    const direct = await (await fetch(`${url}/environments`, { headers: { authorization: `Bearer ${token}` } })).json();
    const r = await cli("ops", "--via", `ssh://root@127.0.0.1:${sshd.port}`, "env", "list", "--json");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(direct);
  }, 120_000);

  test("ODOOOPS_VIA works like --via; an error of the daemon keeps its exit code (4, not found)", async () => {
    const p = Bun.spawn(["bun", join(REPO, "src/main.ts"), "env", "get", "no-such-env"], {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: dir,
        CI: "true",
        ODOOOPS_VIA: `ssh://root@127.0.0.1:${sshd.port}`,
        ODOOOPS_VIA_IDENTITY: join(dir, "ops"),
        ODOOOPS_VIA_FINGERPRINT: hostFp,
      },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    expect(stderr).toContain("no-such-env");
    expect(code).toBe(4);
  }, 120_000);

  test("an SSH user without an odooops credential on the coordinator is refused with the reason, clearly", async () => {
    const r = await cli("nobody", "--via", `ssh://root@127.0.0.1:${sshd.port}`, "env", "list", "--json");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("no odooops credential for this SSH user");
  }, 120_000);

  test("an unknown coordinator host key is refused with its fingerprint; nothing is sent", async () => {
    const p = Bun.spawn(
      ["bun", join(REPO, "src/main.ts"), "--via", `ssh://root@127.0.0.1:${sshd.port}`, "env", "list"],
      {
        env: { PATH: process.env.PATH ?? "", HOME: dir, CI: "true", ODOOOPS_VIA_IDENTITY: join(dir, "ops") },
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    expect(code).not.toBe(0);
    expect(stderr).toContain(`--fingerprint ${hostFp}`);
  }, 120_000);
});

describe("parsing", () => {
  test("via URLs", () => {
    expect(parseVia("ssh://ops@coord.example:2222")).toEqual({ username: "ops", host: "coord.example", port: 2222 });
    expect(parseVia("ssh://10.0.0.1")).toEqual({ username: "root", host: "10.0.0.1", port: 22 });
    for (const bad of ["http://x", "ssh://u:pw@x", "ssh://x/path", "ssh://x?a=1", "x"])
      expect(() => parseVia(bad)).toThrow("expected ssh://user@host[:port]");
  });

  test("api-stdio accepts one API request line; anything else is refused", () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    const ok = parseHead(enc(`{"method":"POST","path":"/api/v1/environments","headers":{}}\n{"a":1}`));
    expect(ok.head.path).toBe("/api/v1/environments");
    expect(new TextDecoder().decode(ok.body)).toBe('{"a":1}');
    for (const bad of [
      "no newline",
      "not json\n",
      `{"method":"GET","path":"/metrics","headers":{}}\n`,
      `{"method":"GET","path":"/api/v1/../../x","headers":{}}\n`,
      `{"method":"CONNECT","path":"/api/v1/x","headers":{}}\n`,
      `{"method":"GET","path":"/api/v1/x","headers":{},"extra":1}\n`,
    ])
      expect(() => parseHead(enc(bad))).toThrow("api-stdio");
  });
});
