/**
 * `odooops db restore` / `db clone` against an in-process API (no agent: jobs stay queued,
 * nothing touches the host): the plan shown, confirmation rules, what the job is asked to do.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { backups } from "../../src/db/backup.sql";
import { exportFile } from "../../src/db/export-job";
import { environments } from "../../src/env/env.sql";
import type { JobView } from "../../src/jobs/view";
import { makeTestApi } from "../support/api";
import { runCliOn, runCliWith } from "../support/cli";
import { makeTempDir } from "../support/tmp";

let t: Awaited<ReturnType<typeof makeTestApi>>;
const fetchApi = (url: string, init?: RequestInit) => t.fetch(url, init);
const env = () => ({ ODOOOPS_URL: "http://odooops.test", ODOOOPS_TOKEN: t.token });
const cli = (...argv: string[]) => runCliWith(argv, { fetch: fetchApi, env: env() });
const ids: Record<string, string> = {};
let newest = "";

function addBackup(envId: string, createdAt: string, status: "completed" | "failed"): string {
  return t.deps.db
    .insert(backups)
    .values({
      envId,
      kind: "manual",
      status,
      dbName: "x",
      sizeBytes: 2048,
      localPath: `/srv/backups/${createdAt}`,
      createdAt,
    })
    .returning()
    .get().id;
}

function params(jobId: string): Record<string, unknown> {
  return t.deps.jobs.queue.row(jobId).params as Record<string, unknown>;
}

function jobsOf(kind: string): JobView[] {
  return t.deps.jobs.queue.list({ kind, limit: 100 });
}

beforeAll(async () => {
  t = await makeTestApi();
  for (const [name, tier] of [
    ["shop", "dev"],
    ["stage", "staging"],
    ["prod", "production"],
  ] as const) {
    const r = await cli("env", "create", name, "--tier", tier);
    expect(r.code).toBe(0);
    // No agent runs the create job: mark the env as created.
    t.deps.db.update(environments).set({ status: "active" }).where(eq(environments.slug, name)).run();
    ids[name] = t.deps.db.select().from(environments).where(eq(environments.slug, name)).get()!.id;
  }
  addBackup(ids.shop!, "2025-01-01T00:00:00.000Z", "completed");
  newest = addBackup(ids.shop!, "2025-01-02T00:00:00.000Z", "completed");
  addBackup(ids.shop!, "2025-01-03T00:00:00.000Z", "failed");
  addBackup(ids.prod!, "2025-01-02T00:00:00.000Z", "completed");
});
afterAll(() => t.cleanup());

describe("db restore", () => {
  test("without --yes and without a terminal: the plan is shown, nothing is queued (exit 2)", async () => {
    const r = await cli("db", "restore", "shop", "--backup", "latest");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`the database odoo_shop and the filestore of dev environment shop`);
    expect(r.stderr).toContain(`backup ${newest} of shop`);
    expect(r.stderr).toContain("dropped once the new one is healthy");
    expect(r.stderr).toContain("pass --yes");
    expect(jobsOf("db.restore")).toEqual([]);
  });

  test("--yes: the newest COMPLETED backup, pinned in the job; job id on stdout", async () => {
    const r = await cli("db", "restore", "shop", "--backup", "latest", "--yes");
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    expect(t.deps.jobs.queue.row(id)).toMatchObject({ kind: "db.restore", target: "shop", status: "queued" });
    expect(params(id)).toMatchObject({
      envId: ids.shop,
      sourceEnvId: ids.shop,
      backupId: newest,
      keepOld: false,
      anonymize: false,
      neutralize: false,
      rebase: false,
      preBackupId: null,
    });
    expect(params(id).token).toMatch(/^[a-z0-9]{8}$/);
  });

  test("--json prints only the job; --keep-old is passed on", async () => {
    const r = await cli("db", "restore", "shop", "--backup", newest, "--yes", "--keep-old", "--json");
    expect(r.code).toBe(0);
    const job = JSON.parse(r.stdout) as JobView;
    expect(job.kind).toBe("db.restore");
    expect(params(job.id)).toMatchObject({ backupId: newest, keepOld: true });
  });

  test("production's backup into a dev env: anonymized and neutralized by default; --no-anonymize opts out", async () => {
    const r = await cli("db", "restore", "prod", "--backup", "latest", "--to", "shop", "--yes");
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("anonymized");
    expect(r.stderr).toContain("neutralized");
    expect(params(r.stdout.trim())).toMatchObject({
      envId: ids.shop,
      sourceEnvId: ids.prod,
      anonymize: true,
      neutralize: true,
      rebase: true,
      preBackupId: null,
    });
    const plain = await cli("db", "restore", "prod", "--backup", "latest", "--to", "shop", "--yes", "--no-anonymize");
    expect(plain.code).toBe(0);
    expect(params(plain.stdout.trim())).toMatchObject({ anonymize: false, neutralize: true });
  });

  test("another env's backup into production needs --yes --force-production; production is backed up first", async () => {
    const before = jobsOf("db.restore").length;
    const refused = await cli("db", "restore", "shop", "--backup", "latest", "--to", "prod", "--yes");
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("--force-production");
    const noYes = await cli("db", "restore", "shop", "--backup", "latest", "--to", "prod", "--force-production");
    expect(noYes.code).toBe(2);
    expect(jobsOf("db.restore").length).toBe(before);
    const r = await cli("db", "restore", "shop", "--backup", "latest", "--to", "prod", "--yes", "--force-production");
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("a backup of the current database is taken first");
    const p = params(r.stdout.trim());
    expect(p).toMatchObject({ envId: ids.prod, anonymize: false, neutralize: false, rebase: true });
    expect(typeof p.preBackupId).toBe("string");
    // Its own backup back into production: disaster recovery, no extra flag, still backed up first.
    const own = await cli("db", "restore", "prod", "--backup", "latest", "--yes");
    expect(own.code).toBe(0);
    expect(typeof params(own.stdout.trim()).preBackupId).toBe("string");
  });

  test("unknown backup exits 4; another env's backup id exits 2; unknown env exits 4", async () => {
    expect((await cli("db", "restore", "shop", "--backup", "nope", "--yes")).code).toBe(4);
    const prodBackup = t.deps.db.select().from(backups).where(eq(backups.envId, ids.prod!)).get()!.id;
    const wrong = await cli("db", "restore", "shop", "--backup", prodBackup, "--yes");
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("is not a backup of shop");
    expect((await cli("db", "restore", "ghost", "--backup", "latest", "--yes")).code).toBe(4);
    expect((await cli("db", "restore", "stage", "--backup", "latest", "--yes")).stderr).toContain(
      "stage has no completed backup",
    );
  });
});

describe("db clone", () => {
  test("production → staging: anonymized + neutralized by default, needs --yes without a terminal", async () => {
    const asked = await cli("db", "clone", "prod", "--to", "stage");
    expect(asked.code).toBe(2);
    expect(asked.stderr).toContain("a copy of production environment prod");
    expect(jobsOf("db.clone")).toEqual([]);
    const r = await cli("db", "clone", "prod", "--to", "stage", "--yes");
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    expect(t.deps.jobs.queue.row(id)).toMatchObject({ kind: "db.clone", target: "stage" });
    expect(params(id)).toMatchObject({
      envId: ids.stage,
      sourceEnvId: ids.prod,
      method: "auto",
      anonymize: true,
      neutralize: true,
      rebase: true,
      preBackupId: null,
    });
    const stream = await cli("db", "clone", "shop", "--to", "stage", "--yes", "--method", "stream");
    expect(params(stream.stdout.trim())).toMatchObject({ method: "stream", anonymize: false, neutralize: true });
  });

  test("into production: refused without BOTH --yes and --force-production (exit 2, saying so)", async () => {
    for (const extra of [[], ["--yes"], ["--force-production"]]) {
      const r = await cli("db", "clone", "stage", "--to", "prod", ...extra);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("--force-production");
    }
    expect(jobsOf("db.clone").filter((j) => j.target === "prod")).toEqual([]);
    const r = await cli("db", "clone", "stage", "--to", "prod", "--yes", "--force-production");
    expect(r.code).toBe(0);
    const p = params(r.stdout.trim());
    expect(p).toMatchObject({ anonymize: false, neutralize: false, rebase: true });
    expect(typeof p.preBackupId).toBe("string");
    const anon = await cli("db", "clone", "stage", "--to", "prod", "--yes", "--force-production", "--anonymize");
    expect(anon.code).toBe(2);
    expect(anon.stderr).toContain("refusing to anonymize production");
  });

  test("onto itself, unknown target, bad method: usage errors", async () => {
    const self = await cli("db", "clone", "shop", "--to", "shop", "--yes");
    expect(self.code).toBe(2);
    expect(self.stderr).toContain("onto itself");
    expect((await cli("db", "clone", "shop", "--to", "ghost", "--yes")).code).toBe(4);
    expect((await cli("db", "clone", "shop", "--to", "stage", "--yes", "--method", "rsync")).code).toBe(2);
    expect((await cli("db", "clone", "shop")).code).toBe(2);
  });

  test("a target that is not active or stopped is a conflict (exit 4)", async () => {
    t.deps.db.update(environments).set({ status: "failed" }).where(eq(environments.id, ids.stage!)).run();
    try {
      const r = await cli("db", "clone", "shop", "--to", "stage", "--yes");
      expect(r.code).toBe(4);
      expect(r.stderr).toContain("target environment stage is failed");
    } finally {
      t.deps.db.update(environments).set({ status: "active" }).where(eq(environments.id, ids.stage!)).run();
    }
  });
});

/**
 * migrate / export / import follow jobs: a second API whose only jobs are these, finished by a
 * stand-in agent that leases each job and answers with what the real one would return.
 */
describe("db migrate / export / import", () => {
  let u: Awaited<ReturnType<typeof makeTestApi>>;
  let dir = "";
  const ucli = (...argv: string[]) => runCliOn(u, argv);
  const uids: Record<string, string> = {};

  beforeAll(async () => {
    u = await makeTestApi();
    dir = makeTempDir("cli-db-");
    for (const [name, tier] of [
      ["web1", "dev"],
      ["live", "production"],
    ] as const) {
      expect((await ucli("env", "create", name, "--tier", tier)).code).toBe(0);
      u.deps.db.update(environments).set({ status: "active" }).where(eq(environments.slug, name)).run();
      uids[name] = u.deps.db.select().from(environments).where(eq(environments.slug, name)).get()!.id;
      // The env's create job is not ours to follow: out of the way.
      for (const j of u.deps.jobs.queue.list({ kind: "env.create", limit: 10 }))
        if (j.status === "queued") u.deps.jobs.queue.cancel(j.id);
    }
  });
  afterAll(() => {
    u?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Leases the next job and finishes it with `result(params)`; resolves with the job's kind and params. */
  async function answerNextJob(
    result: (params: Record<string, unknown>) => Record<string, unknown>,
  ): Promise<{ kind: string; params: Record<string, unknown> }> {
    const agent = { owner: "stand-in", hostId: "h" };
    for (;;) {
      const leased = await u.deps.jobs.queue.lease(agent, 60_000);
      if (leased) {
        const params = leased.job.params as Record<string, unknown>;
        await u.deps.jobs.queue.finish(leased.job.id, agent.owner, { status: "succeeded", result: result(params) });
        return { kind: leased.job.kind, params };
      }
      await Bun.sleep(20);
    }
  }

  const plan = (modules: string[]) => ({
    image: "odooops-test/odoo:17.0",
    update: modules.map((name) => ({ name, from: "17.0.0.9", to: "17.0.1.0", reason: "version" })),
    modules,
  });
  const queuedOf = (kind: string) => u.deps.jobs.queue.list({ kind, limit: 100 }).filter((j) => j.status === "queued");

  test("migrate --dry-run: the plan from the dry-run job as a table, nothing else queued", async () => {
    const [r, job] = await Promise.all([
      ucli("db", "migrate", "web1", "--dry-run"),
      answerNextJob(() => ({ dryRun: true, ...plan(["web"]) })),
    ]);
    expect(r.code).toBe(0);
    expect(job).toMatchObject({ kind: "db.migrate", params: { envId: uids.web1, dryRun: true, preBackupId: null } });
    expect(r.stdout).toMatch(/web\s+17\.0\.0\.9\s+17\.0\.1\.0\s+version/);
    expect(r.stderr).toContain("1 module(s) to update from odooops-test/odoo:17.0");
    expect(queuedOf("db.migrate")).toEqual([]);
  });

  test("migrate --dry-run --json: only the plan, as JSON", async () => {
    const [r] = await Promise.all([
      ucli("db", "migrate", "web1", "--dry-run", "--json"),
      answerNextJob(() => ({ dryRun: true, ...plan(["web", "mail"]) })),
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      modules: ["web", "mail"],
      update: [{ name: "web" }, { name: "mail" }],
    });
  });

  test("migrate: the plan is shown, then the migration is queued; production's is backed up first", async () => {
    const [r] = await Promise.all([
      ucli("db", "migrate", "web1"),
      answerNextJob(() => ({ dryRun: true, ...plan(["web"]) })),
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("17.0.0.9");
    const id = r.stdout.trim().split("\n").at(-1)!;
    expect(u.deps.jobs.queue.row(id)).toMatchObject({
      kind: "db.migrate",
      status: "queued",
      params: { dryRun: false, preBackupId: null },
    });
    u.deps.jobs.queue.cancel(id);
    const [p] = await Promise.all([
      ucli("db", "migrate", "live", "--json"),
      answerNextJob(() => ({ dryRun: true, ...plan(["sale"]) })),
    ]);
    expect(p.code).toBe(0);
    const job = JSON.parse(p.stdout) as JobView;
    expect(typeof (u.deps.jobs.queue.row(job.id).params as { preBackupId: unknown }).preBackupId).toBe("string");
    u.deps.jobs.queue.cancel(job.id);
  });

  test("migrate with nothing to update queues nothing", async () => {
    const [r] = await Promise.all([
      ucli("db", "migrate", "web1"),
      answerNextJob(() => ({ dryRun: true, ...plan([]) })),
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("nothing to update");
    expect(queuedOf("db.migrate")).toEqual([]);
  });

  test("export: the finished zip is downloaded to --out and deleted on the daemon; an existing --out is refused", async () => {
    const content = Buffer.from(`PK${"x".repeat(70_000)}`);
    let daemonCopy = "";
    const out = join(dir, "web1.zip");
    const [r] = await Promise.all([
      ucli("db", "export", "web1", "--out", out),
      answerNextJob((p) => {
        daemonCopy = exportFile(u.deps.paths, String(p.exportId));
        mkdirSync(dirname(daemonCopy), { recursive: true });
        writeFileSync(daemonCopy, content);
        return { exportId: p.exportId, download: `/exports/${String(p.exportId)}` };
      }),
    ]);
    expect(r.code).toBe(0);
    expect(readFileSync(out).equals(content)).toBe(true);
    expect(existsSync(daemonCopy)).toBe(false);
    expect(r.stderr).toContain(`exported web1 to ${out}`);
    const again = await ucli("db", "export", "web1", "--out", out);
    expect(again.code).toBe(4);
    expect(again.stderr).toContain("already exists");
  });

  test("import: confirmation needed without a terminal; with --yes the upload is stored and the job queued (neutralized for dev)", async () => {
    const file = join(dir, "in.zip");
    writeFileSync(file, Buffer.from(`PK\u0003\u0004${"y".repeat(5000)}`));
    const asked = await ucli("db", "import", "web1", file);
    expect(asked.code).toBe(2);
    expect(asked.stderr).toContain(`will be replaced by ${file}`);
    expect(queuedOf("db.import")).toEqual([]);
    const r = await ucli("db", "import", "web1", file, "--yes");
    expect(r.code).toBe(0);
    const p = u.deps.jobs.queue.row(r.stdout.trim()).params as {
      upload: string;
      format: string;
      neutralize: boolean;
      preBackupId: string | null;
      envId: string;
    };
    expect(p).toMatchObject({ envId: uids.web1, format: "zip", neutralize: true, preBackupId: null });
    expect(readFileSync(p.upload).equals(readFileSync(file))).toBe(true);
    const plain = await ucli("db", "import", "web1", file, "--yes", "--no-neutralize");
    expect((u.deps.jobs.queue.row(plain.stdout.trim()).params as { neutralize: boolean }).neutralize).toBe(false);
  });

  test("import of a .dump: a loud warning without --filestore; --filestore DIR is sent as a checked tar first; refused with a zip", async () => {
    const dump = join(dir, "in.dump");
    writeFileSync(dump, Buffer.from(`PGDMP${"z".repeat(1000)}`));
    const bare = await ucli("db", "import", "web1", dump, "--yes");
    expect(bare.code).toBe(0);
    expect(bare.stderr).toContain("warning: a .dump holds the database only, NOT the filestore");
    expect(u.deps.jobs.queue.row(bare.stdout.trim()).params).toMatchObject({ format: "dump", filestore: null });

    const fs = join(dir, "fs");
    mkdirSync(join(fs, "ab"), { recursive: true });
    writeFileSync(join(fs, "ab", "ab12"), "attachment");
    const r = await ucli("db", "import", "web1", dump, "--yes", "--filestore", fs);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain("NOT the filestore");
    expect(r.stderr).toContain("filestore uploaded and checked: 2 entries");
    const p = u.deps.jobs.queue.row(r.stdout.trim()).params as { filestore: string | null };
    expect(p.filestore).toMatch(/-filestore-[0-9a-f]{32}\.tar$/);
    expect(existsSync(p.filestore!)).toBe(true);

    const before = queuedOf("db.import").length;
    const zip = await ucli("db", "import", "web1", join(dir, "in.zip"), "--yes", "--filestore", fs);
    expect(zip.code).toBe(2);
    expect(zip.stderr).toContain("--filestore goes with a .dump");
    expect(queuedOf("db.import").length).toBe(before);
  });

  test("import into production needs --yes --force-production; a missing file is a usage error", async () => {
    const file = join(dir, "in.zip");
    const before = queuedOf("db.import").length;
    const refused = await ucli("db", "import", "live", file, "--yes");
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("--force-production");
    expect(queuedOf("db.import").length).toBe(before);
    const r = await ucli("db", "import", "live", file, "--yes", "--force-production");
    expect(r.code).toBe(0);
    const p = u.deps.jobs.queue.row(r.stdout.trim()).params as { neutralize: boolean; preBackupId: string | null };
    expect(p.neutralize).toBe(false);
    expect(typeof p.preBackupId).toBe("string");
    expect((await ucli("db", "import", "web1", join(dir, "missing.zip"), "--yes")).code).toBe(2);
  });
});
