/**
 * The release binary alone: copied to a temp dir and run from elsewhere, it needs nothing from
 * the repo (migrations and templates are embedded). A real daemon on a temp root and port, a
 * real login from a "laptop" (another HOME), restart on existing state.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort } from "../support/ports";
import { makeTempDir, removeTempDir } from "../support/tmp";

let dir: string;
let bin: string;
let root: string;
let home: string;
let port: number;
let daemon: Subprocess | null = null;

beforeAll(async () => {
  dir = makeTempDir("odooops-bin-");
  bin = join(dir, "odooops");
  copyFileSync(join(import.meta.dir, "../../dist/odooops"), bin);
  statSync(bin);
  Bun.spawnSync(["chmod", "755", bin]);
  root = join(dir, "root");
  home = join(dir, "laptop");
  port = await freePort();
});
afterAll(() => {
  daemon?.kill(9);
  removeTempDir(dir);
});

async function exec(argv: string[], env: Record<string, string> = {}, stdin?: string) {
  const p = Bun.spawn([bin, ...argv], {
    cwd: "/",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", CI: "true", HOME: home, ...env },
    stdin: stdin === undefined ? "ignore" : new Blob([stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { code, stdout, stderr };
}

async function startServe() {
  daemon = Bun.spawn([bin, "serve", "--listen", `127.0.0.1:${port}`], {
    cwd: "/",
    env: { PATH: process.env.PATH ?? "", ODOOOPS_ROOT: root, ODOOOPS_ADMIN_PASSWORD: "pw-standalone-1" },
    stdout: "ignore",
    stderr: "pipe",
  });
  for (let i = 0; i < 200; i++) {
    const r = await fetch(`http://127.0.0.1:${port}/api/v1/health`).catch(() => null);
    if (r?.ok) return (await r.json()) as { status: string; state: { ok: boolean } };
    await Bun.sleep(50);
  }
  throw new Error("daemon did not start");
}

describe("the binary alone", () => {
  test("--version and --help from any directory", async () => {
    const v = await exec(["--version"]);
    expect(v).toEqual({ code: 0, stdout: expect.stringMatching(/^\d+\.\d+\.\d+\n$/), stderr: "" });
    const h = await exec(["--help"]);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain("env");
    expect(h.stdout).toContain("jobs");
    const eh = await exec(["env", "--help"]);
    expect(eh.stdout).toContain("destroy");
  }, 60_000);

  test("serve on an empty root applies migrations and answers; restart on existing state works", async () => {
    expect((await startServe()).state.ok).toBe(true);
    expect(existsSync(join(root, "state/odooops.db"))).toBe(true);
    expect(statSync(join(root, "run/local-token")).mode & 0o777).toBe(0o640);
    daemon!.kill("SIGTERM");
    expect(await daemon!.exited).toBe(0);
    expect(existsSync(join(root, "run/daemon-url"))).toBe(false);
    expect((await startServe()).status).toBe("ok");
  }, 60_000);

  test("on the host: no login needed; from a laptop: login with --password-stdin, token stored 0600", async () => {
    const local = await exec(["env", "list", "--json"], { ODOOOPS_ROOT: root });
    expect(local).toMatchObject({ code: 0, stdout: "[]\n" });
    const url = `http://127.0.0.1:${port}`;
    const denied = await exec(["env", "list", "--url", url]);
    expect(denied.code).toBe(3);
    const login = await exec(
      ["auth", "login", "--url", url, "--username", "admin", "--password-stdin"],
      {},
      "pw-standalone-1\n",
    );
    expect(login.code).toBe(0);
    expect(statSync(join(home, ".config/odooops/credentials.json")).mode & 0o777).toBe(0o600);
    const listed = await exec(["env", "list", "--json"]);
    expect(listed).toMatchObject({ code: 0, stdout: "[]\n" });
    const bad = await exec(["auth", "login", "--url", url, "--username", "admin", "--password-stdin"], {}, "wrong\n");
    expect(bad.code).toBe(3);
  }, 60_000);
});
