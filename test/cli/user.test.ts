/** `odooops user …`, `auth logout|passwd|sessions`, and production destroy through the CLI, against an in-process API. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { environments } from "../../src/env/env.sql";
import type { JobView } from "../../src/jobs/view";
import { makeTestApi } from "../support/api";
import { runCliWith } from "../support/cli";
import { makeTempDir, removeTempDir } from "../support/tmp";

let t: Awaited<ReturnType<typeof makeTestApi>>;
let home = "";
const cli = (argv: string[], opts: { token?: string; stdin?: string } = {}) =>
  runCliWith(argv, {
    fetch: t.fetch,
    stdin: opts.stdin,
    env: { ODOOOPS_URL: "http://odooops.test", ODOOOPS_TOKEN: opts.token ?? t.token },
  });

beforeAll(async () => {
  t = await makeTestApi();
  home = makeTempDir("odooops-user-cli-");
});
afterAll(() => {
  t.cleanup();
  removeTempDir(home);
});

describe("user", () => {
  test("add (generated password printed once), list, set-role, passwd, remove", async () => {
    const add = await cli(["user", "add", "dev1", "--role", "member"]);
    expect(add.code).toBe(0);
    const password = add.stdout.trim();
    expect(password.length).toBeGreaterThan(16);
    await t.deps.auth.login("dev1", password);

    expect(
      (await cli(["user", "add", "ro", "--role", "viewer", "--password-stdin"], { stdin: "viewer-password\n" })).code,
    ).toBe(0);
    const list = JSON.parse((await cli(["--json", "user", "list"])).stdout) as { username: string; role: string }[];
    expect(list.map((u) => [u.username, u.role])).toEqual([
      ["admin", "admin"],
      ["dev1", "member"],
      ["ro", "viewer"],
    ]);

    expect((await cli(["user", "set-role", "ro", "boss"])).code).toBe(2);
    expect((await cli(["user", "set-role", "ro", "member"])).stderr).toContain("ro is now member");
    const last = await cli(["user", "set-role", "admin", "viewer"]);
    expect(last.code).toBe(4);
    expect(last.stderr).toContain("admin is the last admin");

    const { token: memberToken } = await t.deps.auth.login("dev1", password);
    const denied = await cli(["user", "list"], { token: memberToken });
    expect(denied.code).toBe(3);
    expect(denied.stderr).toContain("only admin users may list users; dev1 is member");

    expect((await cli(["user", "passwd", "dev1", "--password-stdin"], { stdin: "dev1-new-password\n" })).code).toBe(0);
    expect((await cli(["auth", "whoami"], { token: memberToken })).code).toBe(3);
    expect((await cli(["user", "remove", "ro"])).code).toBe(2);
    expect((await cli(["user", "remove", "ro", "--yes"])).code).toBe(0);
    expect((await cli(["user", "list", "--json"])).stdout).not.toContain('"ro"');
  });
});

describe("auth", () => {
  test("logout ends the session on the server, not only on disk", async () => {
    const env = { HOME: home, XDG_CONFIG_HOME: home };
    const login = await runCliWith(
      ["auth", "login", "--url", "http://odooops.test", "--username", "admin", "--password-stdin"],
      { fetch: t.fetch, env, stdin: "correct-horse-battery\n" },
    );
    expect(login.code).toBe(0);
    const stored = JSON.parse(await Bun.file(`${home}/odooops/credentials.json`).text()) as { token: string };
    expect((await cli(["auth", "whoami"], { token: stored.token })).code).toBe(0);
    expect((await runCliWith(["auth", "logout"], { fetch: t.fetch, env })).stderr).toContain("Logged out.");
    const after = await cli(["auth", "whoami"], { token: stored.token });
    expect(after.code).toBe(3);
    expect(after.stderr).toContain("session ended");
  });

  test("passwd --stdin changes the password; sessions list shows the current one", async () => {
    await t.deps.auth.createUser("pw", "pw-password-1", "viewer");
    const { token } = await t.deps.auth.login("pw", "pw-password-1");
    expect((await cli(["auth", "passwd", "--stdin"], { token, stdin: "pw-password-1\npw-password-2\n" })).code).toBe(0);
    await t.deps.auth.login("pw", "pw-password-2");
    const sessions = JSON.parse((await cli(["--json", "auth", "sessions", "list"], { token })).stdout) as {
      current: boolean;
    }[];
    expect(sessions.filter((s) => s.current)).toHaveLength(1);
    expect((await cli(["auth", "token", "create", "ci", "--role", "admin"], { token })).code).toBe(3);
  });
});

describe("env destroy on production", () => {
  test("--yes sends confirm=<name>; the final backup is planned unless --skip-final-backup", async () => {
    const res = await t.request("/api/v1/environments", {
      method: "POST",
      body: JSON.stringify({ name: "live", tier: "production" }),
    });
    const { job } = (await res.json()) as { job: JobView };
    expect((await t.request(`/api/v1/jobs/${job.id}/cancel`, { method: "POST" })).status).toBe(200);
    t.deps.db.update(environments).set({ status: "active" }).where(eq(environments.slug, "live")).run();
    const r = await cli(["--json", "env", "destroy", "live", "--yes"]);
    expect(r.code).toBe(0);
    const queued = t.deps.jobs.queue.list({ limit: 100 }).find((j) => j.kind === "env.destroy" && j.target === "live")!;
    expect(t.deps.jobs.queue.row(queued.id).params).toMatchObject({ keepDatabase: false, previousStatus: "active" });
    expect(t.deps.jobs.queue.row(queued.id).params.finalBackupId).toBeString();
  });
});
