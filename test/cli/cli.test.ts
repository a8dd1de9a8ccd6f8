import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ADMIN_PASSWORD, makeTestApi } from "../support/api";
import { runCliWith } from "../support/cli";

let t: Awaited<ReturnType<typeof makeTestApi>>;
let home: string;
const URL_ = "http://odooops.test";
const fetchApi = (url: string, init?: RequestInit) => t.fetch(url, init);

beforeAll(async () => {
  t = await makeTestApi();
  home = mkdtempSync(join(tmpdir(), "odooops-cli-"));
});
afterAll(() => {
  t.cleanup();
  rmSync(home, { recursive: true, force: true });
});

const env = () => ({ XDG_CONFIG_HOME: home, ODOOOPS_URL: URL_, ODOOOPS_ROOT: join(home, "no-root") });

describe("cli", () => {
  test("--version prints the version only", async () => {
    const r = await runCliWith(["--version"], { fetch: fetchApi });
    expect(r).toEqual({ code: 0, stdout: "0.1.0\n", stderr: "" });
  });

  test("auth login without a TTY and without flags exits 2 listing the flags, never prompts", async () => {
    const r = await runCliWith(["auth", "login"], { fetch: fetchApi, env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--username NAME and --password-stdin");
  });

  test("auth login --password-stdin stores a 0600 token that later commands use", async () => {
    const r = await runCliWith(["auth", "login", "--username", "admin", "--password-stdin"], {
      fetch: fetchApi,
      env: env(),
      stdin: `${ADMIN_PASSWORD}\n`,
    });
    expect(r.code).toBe(0);
    const file = join(home, "odooops", "credentials.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const who = await runCliWith(["auth", "whoami", "--json"], { fetch: fetchApi, env: env() });
    expect(who.code).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({ username: "admin", via: "jwt", url: URL_ });
  });

  test("wrong password exits 3", async () => {
    const r = await runCliWith(["auth", "login", "--username", "admin", "--password-stdin"], {
      fetch: fetchApi,
      env: { ...env(), XDG_CONFIG_HOME: join(home, "other") },
      stdin: "wrong-password",
    });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("invalid username or password");
  });

  test("env list --json prints only JSON on stdout (global flag anywhere)", async () => {
    for (const argv of [
      ["env", "list", "--json"],
      ["--json", "env", "list"],
    ]) {
      const r = await runCliWith(argv, { fetch: fetchApi, env: { ...env(), ODOOOPS_TOKEN: t.token } });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual([]);
    }
  });

  test("bad tier is a usage error (2) before any request; unknown command is 2", async () => {
    const r = await runCliWith(["env", "list", "--tier", "prod;rm"], { fetch: fetchApi, env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown tier");
    expect((await runCliWith(["nope"], { fetch: fetchApi, env: env() })).code).toBe(2);
  });

  test("an unknown command with --help is named and exits 2; a leaf command's argument is not a command", async () => {
    for (const [argv, word] of [
      [["nonesuch", "add", "--help"], "nonesuch"],
      [["env", "nope", "-h"], "nope"],
    ] as const) {
      const r = await runCliWith([...argv], { fetch: fetchApi, env: env() });
      expect(r).toEqual({
        code: 2,
        stdout: "",
        stderr: `error: Unknown command ${word}\nRun with --help for usage.\n`,
      });
    }
    const leaf = await runCliWith(["env", "get", "shop", "--help"], { fetch: fetchApi, env: env() });
    expect(leaf.code).toBe(0);
    expect(leaf.stdout).toContain("env get");
  });

  test("not found exits 4, no token exits 3", async () => {
    const nf = await runCliWith(["auth", "token", "revoke", "nope"], {
      fetch: fetchApi,
      env: { ...env(), ODOOOPS_TOKEN: t.token },
    });
    expect(nf.code).toBe(4);
    const unauth = await runCliWith(["env", "list"], {
      fetch: fetchApi,
      env: { ...env(), XDG_CONFIG_HOME: join(home, "empty") },
    });
    expect(unauth.code).toBe(3);
  });
});
