/**
 * The environment page's actions in process (real SQLite state, real auth, the real API, a real git
 * repository as the project's): deploy from the picker, roll back with the migration guard's
 * choice, restore (production asks for the name), copy to another env. Each goes through the API
 * (job + audit row); a viewer is offered none and is refused every one; bad input changes nothing.
 * Jobs are queued, not run: the browser test (browser-actions.test.ts) watches them finish.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { auditLogs } from "../../src/audit/audit.sql";
import { rollbackGuard } from "../../src/console/rollback-guard";
import { splitLines } from "../../src/console/routes/live";
import { backups } from "../../src/db/backup.sql";
import { insertDeployment } from "../../src/deploy/records";
import type { DeploymentView } from "../../src/deploy/schema";
import { environments } from "../../src/env/env.sql";
import { jobs } from "../../src/jobs/jobs.sql";
import { makeRepo, type TestRepo } from "../git/repo";
import { ADMIN_PASSWORD, makeTestApi } from "../support/api";
import { makeTempDir, removeTempDir } from "../support/tmp";
import { Browser, consoleFetcher, type Fetcher } from "./support";

let t: Awaited<ReturnType<typeof makeTestApi>>;
let fetcher: Fetcher;
let repo: TestRepo;
let repoDir = "";
const shas: string[] = [];
const PW = { viewer: "viewer-password-long", member: "member-password-long" };
const ids = { dev: "", prod: "", r1: "", r2: "" };

const jobRows = () => t.deps.db.select().from(jobs).all();
const auditBy = (actor: string, action: string) => {
  t.deps.audit.flush();
  return t.deps.db
    .select()
    .from(auditLogs)
    .where(and(eq(auditLogs.actor, actor), eq(auditLogs.action, action)))
    .all();
};

async function createEnv(name: string, tier: string): Promise<string> {
  const res = await t.request("/api/v1/environments", { method: "POST", body: JSON.stringify({ name, tier }) });
  expect(res.status).toBe(202);
  // The create job is queued, never run here: the env is made serviceable as a finished create leaves it.
  t.deps.db.update(environments).set({ status: "active" }).where(eq(environments.slug, name)).run();
  return (t.deps.db.select().from(environments).where(eq(environments.slug, name)).get() as { id: string }).id;
}

function addBackup(envId: string, dbName: string): string {
  return t.deps.db
    .insert(backups)
    .values({
      envId,
      kind: "manual",
      status: "completed",
      dbName,
      sizeBytes: 1234,
      localPath: `${t.root}/backups/${dbName}.dump`,
      finishedAt: new Date().toISOString(),
    })
    .returning()
    .get().id;
}

beforeAll(async () => {
  t = await makeTestApi();
  fetcher = consoleFetcher(t.deps, t.app);
  await t.deps.auth.createUser("vera", PW.viewer, "viewer");
  await t.deps.auth.createUser("mona", PW.member, "member");
  repoDir = makeTempDir("odooops-console-repo-");
  repo = await makeRepo(repoDir);
  shas.push(await repo.commit({ "README.md": "one\n" }, "first commit"));
  shas.push(await repo.commit({ "README.md": "two\n" }, "second commit"));
  await repo.git("branch", "feature/x");
  expect(
    (await t.request("/api/v1/projects/default", { method: "PUT", body: JSON.stringify({ repoUrl: repo.url }) }))
      .status,
  ).toBe(200);
  ids.dev = await createEnv("act-dev", "dev");
  await createEnv("act-stg", "staging");
  ids.prod = await createEnv("act-prod", "production");
  const bk = addBackup(ids.dev, "odoo_act_dev");
  addBackup(ids.prod, "odoo_act_prod");
  const base = { envId: ids.dev, kind: "deploy" as const, status: "success" as const, branch: "main" };
  ids.r1 = insertDeployment(t.deps.db, { ...base, release: 1, commitSha: shas[0], image: "act-dev:1" }).id;
  ids.r2 = insertDeployment(t.deps.db, {
    ...base,
    release: 2,
    commitSha: shas[1],
    image: "act-dev:2",
    migrated: true,
    backupId: bk,
  }).id;
  t.deps.db.update(environments).set({ currentDeploymentId: ids.r2 }).where(eq(environments.id, ids.dev)).run();
}, 60_000);

afterAll(() => {
  t?.cleanup();
  if (repoDir) removeTempDir(repoDir);
});

const dep = (d: Partial<DeploymentView>): DeploymentView =>
  ({ env: "e", kind: "deploy", migrated: false, backupId: null, release: 1, ...d }) as DeploymentView;

describe("rollback guard (pure)", () => {
  test("names the later migrating deploys, oldest first, and the first one's pre-deploy backup", () => {
    const target = dep({ release: 1 });
    const all = [
      target,
      dep({ release: 4, migrated: true, backupId: "b4" }),
      dep({ release: 2, migrated: false }),
      dep({ release: 3, migrated: true, backupId: "b3" }),
      dep({ release: 5, kind: "rollback", migrated: true }),
      dep({ env: "other", release: 6, migrated: true }),
    ];
    expect(rollbackGuard(all, target)).toEqual({ migrations: [3, 4], backupId: "b3" });
    expect(rollbackGuard(all, dep({ release: 4 }))).toEqual({ migrations: [], backupId: null });
    expect(rollbackGuard([target, dep({ release: 2, migrated: true })], target)).toEqual({
      migrations: [2],
      backupId: null,
    });
  });
});

describe("what each role is offered", () => {
  test("an admin: Deploy…, Roll back to this with the migration guard's choice, Restore, Copy to…", async () => {
    const b = new Browser(fetcher);
    await b.login("admin", ADMIN_PASSWORD);
    const page = await (await b.request("/envs/act-dev")).text();
    expect(page).toContain('href="/envs/act-dev/deploy"');
    // Release 1 is the candidate; release 2 (serving) is not.
    const rollbacks = [...page.matchAll(/name="to" value="([^"]+)"/g)].map((m) => m[1]);
    expect(rollbacks).toEqual([ids.r1]);
    expect(page).toContain("Database (migrated by release 2)");
    expect(page).toContain('<option value="restore">restore backup');
    expect(page).toContain('<option value="keep">');
    expect(page).toContain('action="/envs/act-dev/restore"');
    expect(page).toContain('<option value="act-prod">');
    expect(page).toContain('<option value="act-stg">');
    // The production env's own page asks for its name before a restore.
    const prod = await (await b.request("/envs/act-prod")).text();
    expect(prod).toContain("Type act-prod to restore");
  });

  test("a member: no restore into production and production is no copy target", async () => {
    const b = new Browser(fetcher);
    await b.login("mona", PW.member);
    const dev = await (await b.request("/envs/act-dev")).text();
    expect(dev).toContain("Roll back to this");
    expect(dev).not.toContain('<option value="act-prod">');
    expect(dev).toContain('<option value="act-stg">');
    const prod = await (await b.request("/envs/act-prod")).text();
    expect(prod).not.toContain('action="/envs/act-prod/restore"');
  });

  test("a viewer: no action at all, and the deploy picker is refused", async () => {
    const b = new Browser(fetcher);
    await b.login("vera", PW.viewer);
    const page = await (await b.request("/envs/act-dev")).text();
    expect(page).not.toContain("Deploy…");
    expect(page).not.toContain("Roll back");
    expect(page).not.toContain("Restore");
    expect(page).not.toContain("Copy to");
    expect([...page.matchAll(/<form[^>]*method="post"[^>]*action="([^"]+)"/g)].map((m) => m[1])).toEqual(["/logout"]);
    const picker = await b.request("/envs/act-dev/deploy");
    expect(picker.status).toBe(403);
    expect(await picker.text()).not.toContain('name="ref"');
  });
});

describe("the server refuses a viewer every action, even with a valid CSRF token", () => {
  test("deploy, roll back, restore, copy: 403 in the API's words, no job", async () => {
    const b = new Browser(fetcher);
    await b.login("vera", PW.viewer);
    const _csrf = await b.csrf();
    const before = jobRows().length;
    for (const [path, form, words] of [
      ["/envs/act-dev/deployments", { ref: `sha:${shas[0]}` }, "only member users may deploy"],
      ["/envs/act-dev/rollback", { to: ids.r1, db: "keep" }, "only member users may roll back"],
      ["/envs/act-dev/restore", { backup: "x" }, "only member users may restore databases"],
      ["/envs/act-dev/copy", { target: "act-stg" }, "only member users may clone databases"],
    ] as const) {
      const res = await b.post(path, { ...form, _csrf });
      expect({ path, status: res.status }).toEqual({ path, status: 403 });
      expect(await res.text()).toContain(words);
    }
    expect(jobRows().length).toBe(before);
    // And without the token, the CSRF guard stops it first.
    const admin = new Browser(fetcher);
    await admin.login("admin", ADMIN_PASSWORD);
    expect((await admin.post("/envs/act-dev/rollback", { to: ids.r1, db: "keep" })).status).toBe(403);
    expect(jobRows().length).toBe(before);
  });
});

describe("actions through the API", () => {
  test("the deploy picker lists the mirror's commits and branches; a picked commit is deployed", async () => {
    const b = new Browser(fetcher);
    await b.login("mona", PW.member);
    const picker = await (await b.request("/envs/act-dev/deploy")).text();
    expect(picker).toContain(`value="sha:${shas[1]}" selected`);
    expect(picker).toContain(`value="sha:${shas[0]}"`);
    expect(picker).toContain("second commit");
    expect(picker).toContain('value="branch:feature/x"');
    const res = await b.post("/envs/act-dev/deployments", { ref: `sha:${shas[0]}`, _csrf: await b.csrf() });
    expect(res.status).toBe(303);
    const jobId = new URL(res.headers.get("location") as string, "http://x").searchParams.get("job");
    const job = jobRows().find((j) => j.id === jobId);
    expect(job?.kind).toBe("deploy");
    expect(job?.createdBy).toBe("mona");
    expect(auditBy("mona", "deploy").length).toBe(1);
    const shown = await (await b.request(res.headers.get("location") as string)).text();
    expect(shown).toContain('hx-trigger="every 1s"');
  });

  test("bad deploy input is refused and queues nothing", async () => {
    const b = new Browser(fetcher);
    await b.login("mona", PW.member);
    const _csrf = await b.csrf();
    const before = jobRows().length;
    for (const ref of ["sha:not-hex", "branch:../../etc", "tag:v1", ""]) {
      const res = await b.post("/envs/act-dev/deployments", { ref, _csrf });
      expect({ ref, status: res.status }).toEqual({ ref, status: 400 });
      expect(await res.text()).toContain('class="error"');
    }
    expect(jobRows().length).toBe(before);
  });

  test("a rollback past a migration without a choice is refused in the guard's words; with keep it runs", async () => {
    const b = new Browser(fetcher);
    await b.login("mona", PW.member);
    const _csrf = await b.csrf();
    const before = jobRows().length;
    const refused = await b.post("/envs/act-dev/rollback", { to: ids.r1, _csrf });
    expect(refused.status).toBe(409);
    expect(await refused.text()).toContain("goes past database migrations");
    const bad = await b.post("/envs/act-dev/rollback", { to: ids.r1, db: "both", _csrf });
    expect(bad.status).toBe(400);
    expect(jobRows().length).toBe(before);
    const res = await b.post("/envs/act-dev/rollback", { to: ids.r1, db: "keep", _csrf });
    expect(res.status).toBe(303);
    expect(jobRows().length).toBe(before + 1);
    expect(auditBy("mona", "rollback").length).toBe(1);
  });

  test("restore into production asks for its name: without it nothing is queued", async () => {
    const b = new Browser(fetcher);
    await b.login("admin", ADMIN_PASSWORD);
    const _csrf = await b.csrf();
    const backup = /name="backup" value="([^"]+)"/.exec(await (await b.request("/envs/act-prod")).text())?.[1];
    expect(backup).toBeDefined();
    const before = jobRows().length;
    for (const confirm of ["", "act-dev"]) {
      const res = await b.post("/envs/act-prod/restore", { backup: backup as string, confirm, _csrf });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain("refusing to restore into production environment act-prod");
    }
    expect(jobRows().length).toBe(before);
    const res = await b.post("/envs/act-prod/restore", { backup: backup as string, confirm: "act-prod", _csrf });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toMatch(/^\/envs\/act-prod\?job=/);
    expect(auditBy("admin", "db.restore").length).toBe(1);
  });

  test("copy to another env: the target's clone job, anonymized by default from production", async () => {
    const b = new Browser(fetcher);
    await b.login("mona", PW.member);
    const _csrf = await b.csrf();
    const before = jobRows().length;
    // A member copying into production: the API's production rule refuses it.
    const denied = await b.post("/envs/act-dev/copy", { target: "act-prod", confirm: "act-prod", _csrf });
    expect(denied.status).toBe(403);
    expect(await denied.text()).toContain("clone into production environments");
    const bad = await b.post("/envs/act-dev/copy", { target: "../x", _csrf });
    expect(bad.status).toBe(400);
    expect(jobRows().length).toBe(before);
    const res = await b.post("/envs/act-dev/copy", { target: "act-stg", anonymize: "yes", _csrf });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toMatch(/^\/envs\/act-stg\?job=/);
    const clone = auditBy("mona", "db.clone");
    expect(clone.length).toBe(1);
    expect(clone[0]?.target).toBe("act-stg");
  });
});

describe("live logs (SSE)", () => {
  test("lines are sent whole: a line split across chunks waits for its end", () => {
    expect(splitLines("", "a\nb")).toEqual({ lines: ["a"], carry: "b" });
    expect(splitLines("b", "c\n\nd\n")).toEqual({ lines: ["bc", "", "d"], carry: "" });
    expect(splitLines("x", "")).toEqual({ lines: [], carry: "x" });
  });

  test("an env without a container: the stream says so in the API's words and ends", async () => {
    const b = new Browser(fetcher);
    await b.login("vera", PW.viewer);
    const page = await (await b.request("/envs/act-dev/logs")).text();
    expect(page).toContain('data-follow="/envs/act-dev/logs/stream"');
    const res = await b.request("/envs/act-dev/logs/stream");
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const text = await res.text();
    expect(text).toContain("event: problem\ndata: environment act-dev has no container yet");
    expect(text.trimEnd().endsWith("event: end\ndata:")).toBe(true);
    expect((await b.request("/envs/no-such/logs/stream")).status).toBe(200);
    expect(await (await b.request("/envs/no-such/logs/stream")).text()).toContain("event: problem");
  });
});
