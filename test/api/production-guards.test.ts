/**
 * Production's data is admin work and needs its name again: a member cannot destroy, restore
 * into, clone into, import into or create a production env (403), and an admin who does not send
 * confirm=<env> is refused (400, saying what to send) with nothing queued. Real API, real state,
 * real users and tokens; no agent (queued jobs stay queued).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { backups } from "../../src/db/backup.sql";
import { environments } from "../../src/env/env.sql";
import type { JobView } from "../../src/jobs/view";
import { makeTestApi } from "../support/api";

let t: Awaited<ReturnType<typeof makeTestApi>>;
let member = "";
type ErrorBody = { error: { code: string; message: string } };

async function makeEnv(name: string, tier: string) {
  const res = await t.request("/api/v1/environments", { method: "POST", body: JSON.stringify({ name, tier }) });
  expect(res.status).toBe(202);
  const { job } = (await res.json()) as { job: JobView };
  expect((await t.request(`/api/v1/jobs/${job.id}/cancel`, { method: "POST" })).status).toBe(200);
  t.deps.db.update(environments).set({ status: "active" }).where(eq(environments.slug, name)).run();
  const env = t.deps.db.select().from(environments).where(eq(environments.slug, name)).get()!;
  t.deps.db
    .insert(backups)
    .values({
      envId: env.id,
      kind: "manual",
      status: "completed",
      dbName: env.dbName,
      localPath: `${t.root}/backups/${name}/b1`,
    })
    .run();
}

const queued = (kind: string) =>
  t.deps.jobs.queue.list({ limit: 1000 }).filter((j) => j.kind === kind && j.status === "queued").length;

beforeAll(async () => {
  t = await makeTestApi();
  await t.deps.auth.createUser("deployer", "deployer-password", "member");
  member = (await t.deps.auth.login("deployer", "deployer-password")).token;
  await makeEnv("prod", "production");
  await makeEnv("stage", "staging");
});
afterAll(() => t.cleanup());

const destroy = (name: string, query: string, token?: string) =>
  t.request(`/api/v1/environments/${name}${query}`, { method: "DELETE", token });
const restore = (name: string, body: Record<string, unknown>, token?: string) =>
  t.request(`/api/v1/environments/${name}/db/restore`, { method: "POST", body: JSON.stringify(body), token });
const clone = (name: string, body: Record<string, unknown>, token?: string) =>
  t.request(`/api/v1/environments/${name}/db/clone`, { method: "POST", body: JSON.stringify(body), token });
const importInto = (name: string, query: string, token?: string) =>
  t.request(`/api/v1/environments/${name}/db/import?${query}`, {
    method: "POST",
    body: new Uint8Array([80, 75, 3, 4, 0, 0]),
    headers: { "content-type": "application/octet-stream" },
    token,
  });

describe("a member and production", () => {
  test("destroy, restore into, clone into, import into and create production: 403, nothing queued", async () => {
    const before = t.deps.jobs.queue.list({ limit: 1000 }).length;
    const answers = [
      await destroy("prod", "?confirm=prod", member),
      await restore("prod", { backup: "latest", confirm: "prod" }, member),
      await clone("prod", { from: "stage", forceProduction: true, confirm: "prod" }, member),
      await importInto("prod", "forceProduction=true&confirm=prod", member),
      await t.request("/api/v1/environments", {
        method: "POST",
        body: JSON.stringify({ name: "prod2", tier: "production" }),
        token: member,
      }),
    ];
    for (const res of answers) {
      expect(res.status).toBe(403);
      expect(((await res.json()) as ErrorBody).error.message).toMatch(
        /^only admin users may (destroy|restore into|clone into|import into|create) production environments; deployer is member$/,
      );
    }
    expect(t.deps.jobs.queue.list({ limit: 1000 }).length).toBe(before);
    expect(t.deps.db.select().from(environments).where(eq(environments.slug, "prod")).get()?.status).toBe("active");
  });

  test("the same member may restore staging", async () => {
    const res = await restore("stage", { backup: "latest" }, member);
    expect(res.status).toBe(202);
    expect(
      (await t.request(`/api/v1/jobs/${((await res.json()) as { job: JobView }).job.id}/cancel`, { method: "POST" }))
        .status,
    ).toBe(200);
  });
});

describe("an admin and production", () => {
  test("destroy without confirm=<name> (or with another name): 400 saying so, nothing queued, env untouched", async () => {
    for (const q of ["", "?confirm=stage", "?confirm=PROD"]) {
      const res = await destroy("prod", q);
      expect(res.status).toBe(400);
      expect(((await res.json()) as ErrorBody).error.message).toContain(
        "refusing to destroy production environment prod without confirm=prod",
      );
    }
    expect(queued("env.destroy")).toBe(0);
    expect(t.deps.db.select().from(environments).where(eq(environments.slug, "prod")).get()?.status).toBe("active");
  });

  test("restore into, clone into, import into production without confirm: 400 saying so, nothing queued", async () => {
    const own = await restore("prod", { backup: "latest" });
    expect(own.status).toBe(400);
    expect(((await own.json()) as ErrorBody).error.message).toContain(
      "refusing to restore into production environment prod without confirm=prod",
    );
    const other = await restore("prod", { backup: "latest", from: "stage", forceProduction: true });
    expect(((await other.json()) as ErrorBody).error.message).toContain("without confirm=prod");
    const cl = await clone("prod", { from: "stage", forceProduction: true });
    expect(cl.status).toBe(400);
    expect(((await cl.json()) as ErrorBody).error.message).toContain(
      "refusing to clone into production environment prod without confirm=prod",
    );
    const imp = await importInto("prod", "forceProduction=true");
    expect(imp.status).toBe(400);
    expect(((await imp.json()) as ErrorBody).error.message).toContain(
      "refusing to import into production environment prod without confirm=prod",
    );
    expect(queued("db.restore") + queued("db.clone") + queued("db.import")).toBe(0);
    // A dry run shows the plan and needs no confirmation.
    expect((await restore("prod", { backup: "latest", dryRun: true })).status).toBe(200);
  });

  test("with confirm=<name> the restore is queued", async () => {
    const res = await restore("prod", { backup: "latest", confirm: "prod" });
    expect(res.status).toBe(202);
    const { job } = (await res.json()) as { job: JobView };
    expect(job.kind).toBe("db.restore");
    expect((await t.request(`/api/v1/jobs/${job.id}/cancel`, { method: "POST" })).status).toBe(200);
  });

  test("destroy with confirm but no backup target for the final backup: 400 naming --skip-final-backup; with it, queued without a final backup", async () => {
    t.deps.config.backups.local.enabled = false;
    try {
      const res = await destroy("prod", "?confirm=prod");
      expect(res.status).toBe(400);
      expect(((await res.json()) as ErrorBody).error.message).toContain("--skip-final-backup");
      const skipped = await destroy("prod", "?confirm=prod&skipFinalBackup=true");
      expect(skipped.status).toBe(202);
      const job = (await skipped.json()) as JobView;
      expect(t.deps.jobs.queue.row(job.id).params).toMatchObject({
        slug: "prod",
        finalBackupId: null,
        previousStatus: "active",
      });
      expect((await t.request(`/api/v1/jobs/${job.id}/cancel`, { method: "POST" })).status).toBe(200);
    } finally {
      t.deps.config.backups.local.enabled = true;
    }
  });
});
