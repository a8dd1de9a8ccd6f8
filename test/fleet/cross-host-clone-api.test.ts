/**
 * `db clone` across hosts, planned and queued by the coordinator (`app.request`, real SQLite
 * state, hosts as rows) and its pure parts: the dry run names the host of every step and the
 * S3 prefix the copy travels through, and queues nothing; without the shared S3 target the plan
 * relays the copy through the coordinator and says so (`hosts.path`); a real request queues one
 * chain job on the coordinator with the export and restore parameters it will hand out, and
 * audits it.
 * (test/fleet/cross-host-clone.test.ts runs one on real hosts.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { CrossHostCloneParams, restoreParamsOf } from "../../src/db/clone-transfer/chain-job";
import {
  crossHostCloneSteps,
  RELAY_NAME,
  transferPathOf,
  transferPrefix,
  transferTarget,
} from "../../src/db/clone-transfer/plan";
import { ConfigSchema } from "../../src/config/schema";
import { environments } from "../../src/env/env.sql";
import { S3TargetSchema } from "../../src/host/s3/schema";
import { isBackupPrefix } from "../../src/db/backup/layout";
import { jobs } from "../../src/jobs/jobs.sql";
import { makeTestApi } from "../support/api";
import { runCliWith } from "../support/cli";
import { onlineAgent } from "../support/fleet-api";

const s3 = S3TargetSchema.parse({ bucket: "fleet-backups", prefix: "odooops/" });

describe("the plan (pure)", () => {
  test("the transfer lives under _clone-transfer/, never where a backup of any env could be", () => {
    expect(transferTarget(s3).prefix).toBe("odooops/_clone-transfer/");
    const prefix = transferPrefix(s3, "prod", "0190abcd-1");
    expect(prefix).toBe("odooops/_clone-transfer/prod/0190abcd-1/");
    // Not a backup prefix of the shared target (an env named "_clone-transfer" cannot exist)…
    expect(isBackupPrefix(s3, prefix)).toBe(false);
    // …but exactly one of the transfer target, so deleting it can delete nothing else.
    expect(isBackupPrefix(transferTarget(s3), prefix)).toBe(true);
    expect(() => transferPrefix(s3, "../x", "1")).toThrow("invalid environment slug");
  });

  const req = {
    source: { slug: "prod", host: "eu-1" },
    target: { slug: "stage", host: "eu-2" },
    coordinator: "coord",
    anonymize: true,
    neutralize: true,
    preBackup: false,
    keepOld: false,
    s3,
  };

  test("every step names its host; the check comes before the upload", () => {
    expect(crossHostCloneSteps(req, "t1")).toEqual([
      "on eu-1: copy prod's database into a scratch database, anonymized while copied, with a filestore of placeholders",
      "on eu-1: check the copy for prod's e-mail addresses and phone numbers; nothing leaves eu-1 unless it passes",
      "on eu-1: upload the copy to s3://fleet-backups/odooops/_clone-transfer/prod/t1/ and drop the scratch database",
      "on eu-2: restore the copy beside stage's database, neutralize it, swap it in, restart and health-check stage",
      "on eu-2: drop stage's previous database",
      "on coord: delete the copy from s3://fleet-backups/odooops/_clone-transfer/prod/t1/ (also when a step fails)",
    ]);
  });

  test("not anonymized: no check; a production target is backed up first and keeps its old database when asked", () => {
    const steps = crossHostCloneSteps(
      { ...req, anonymize: false, neutralize: false, preBackup: true, keepOld: true },
      "t2",
    );
    expect(steps).toEqual([
      "on eu-1: copy prod's database and filestore into a scratch database",
      "on eu-1: upload the copy to s3://fleet-backups/odooops/_clone-transfer/prod/t2/ and drop the scratch database",
      "on eu-2: back up stage's current database first",
      "on eu-2: restore the copy beside stage's database, swap it in, restart and health-check stage",
      "on eu-2: keep stage's previous database under an _old_ name",
      "on coord: delete the copy from s3://fleet-backups/odooops/_clone-transfer/prod/t2/ (also when a step fails)",
    ]);
  });

  test("without the shared S3 target: packed on the source, fetched through the coordinator, deleted on both hosts", () => {
    expect(transferPathOf(undefined)).toEqual({ path: "relay" });
    expect(transferPathOf(s3)).toEqual({ path: "s3", s3 });
    expect(crossHostCloneSteps({ ...req, s3: undefined }, "t3")).toEqual([
      "on eu-1: copy prod's database into a scratch database, anonymized while copied, with a filestore of placeholders",
      "on eu-1: check the copy for prod's e-mail addresses and phone numbers; nothing leaves eu-1 unless it passes",
      "on eu-1: pack the copy into its transfer directory (mode 0700) and drop the scratch database",
      "on eu-2: fetch the copy from eu-1 through the coordinator, one single-use ticket per file, and check it against the manifest the coordinator recorded",
      "on eu-2: restore the copy beside stage's database, neutralize it, swap it in, restart and health-check stage",
      "on eu-2: drop stage's previous database",
      "on eu-1 and eu-2: delete the copy from their transfer directories (also when a step fails)",
    ]);
  });
});

let t: Awaited<ReturnType<typeof makeTestApi>>;
let bare: Awaited<ReturnType<typeof makeTestApi>>;

const jobCount = (api: typeof t) => api.deps.db.select({ n: sql<number>`count(*)` }).from(jobs).get()!.n;

async function clone(api: typeof t, target: string, body: Record<string, unknown>) {
  const r = await api.request(`/api/v1/environments/${target}/db/clone`, {
    method: "POST",
    body: JSON.stringify(body),
  });
  return {
    status: r.status,
    body: (await r.json()) as {
      plan: {
        steps: string[];
        hosts?: { source: string; target: string; transfer: string; path?: string };
        anonymize: boolean;
      };
      job: { id: string; kind: string } | null;
      error: { message: string };
    },
  };
}

async function fleetApi(backups: Record<string, unknown>) {
  const api = await makeTestApi({
    config: ConfigSchema.parse({ role: "coordinator", fleet: { heartbeatSec: 10 }, backups }),
  });
  for (const name of ["eu-1", "eu-2"]) {
    onlineAgent(api.deps.db, name);
  }
  for (const [name, tier, host] of [
    ["prod", "production", "eu-1"],
    ["stage", "staging", "eu-2"],
  ] as const) {
    const r = await api.request("/api/v1/environments", { method: "POST", body: JSON.stringify({ name, tier, host }) });
    expect(r.status).toBe(202);
    api.deps.db.update(environments).set({ status: "active" }).where(eq(environments.slug, name)).run();
  }
  return api;
}

beforeAll(async () => {
  t = await fleetApi({ s3: { bucket: "fleet-backups", prefix: "odooops/" } });
  bare = await fleetApi({});
});

afterAll(async () => {
  await t?.cleanup();
  await bare?.cleanup();
});

describe("the API", () => {
  test("dry run: the steps with their hosts, the transfer prefix, anonymized by default from production; nothing queued", async () => {
    const before = jobCount(t);
    const r = await clone(t, "stage", { from: "prod", dryRun: true, preview: true });
    expect(r.status).toBe(200);
    expect(r.body.job).toBeNull();
    expect(r.body.plan.anonymize).toBe(true);
    expect(r.body.plan.hosts).toMatchObject({ source: "eu-1", target: "eu-2" });
    expect(r.body.plan.hosts?.transfer).toMatch(/^s3:\/\/fleet-backups\/odooops\/_clone-transfer\/prod\/[^/]+\/$/);
    expect(r.body.plan.hosts?.path).toBe("s3");
    expect(r.body.plan.steps[0]).toStartWith("on eu-1: copy prod's database");
    expect(r.body.plan.steps[1]).toStartWith("on eu-1: check the copy");
    expect(r.body.plan.steps.some((s) => s.startsWith("on eu-2: restore the copy"))).toBe(true);
    expect(jobCount(t)).toBe(before);
  });

  test("the CLI's dry run prints where each step runs and changes nothing", async () => {
    const before = jobCount(t);
    const env = { ODOOOPS_URL: "http://odooops.test", ODOOOPS_TOKEN: t.token, ODOOOPS_ROOT: "/nonexistent" };
    const r = await runCliWith(["db", "clone", "prod", "--to", "stage", "--dry-run"], {
      fetch: (url, init) => t.fetch(url, init),
      env,
    });
    expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/across hosts: eu-1 → eu-2, through s3:\/\/fleet-backups\/odooops\/_clone-transfer\/prod\//);
    expect(out).toContain("    on eu-1: check the copy for prod's e-mail addresses and phone numbers");
    expect(out).toContain("    on eu-2: restore the copy beside stage's database");
    expect(out).toContain("dry run: nothing was changed");
    expect(jobCount(t)).toBe(before);
  });

  test("without backups.s3: the dry run names the relay through the coordinator, in --json too; nothing queued", async () => {
    const before = jobCount(bare);
    const r = await clone(bare, "stage", { from: "prod", dryRun: true });
    expect(r.status).toBe(200);
    expect(r.body.job).toBeNull();
    expect(r.body.plan.hosts).toEqual({ source: "eu-1", target: "eu-2", transfer: RELAY_NAME, path: "relay" });
    expect(r.body.plan.steps).toContain(
      "on eu-2: fetch the copy from eu-1 through the coordinator, one single-use ticket per file, and check it against the manifest the coordinator recorded",
    );
    const env = { ODOOOPS_URL: "http://odooops.test", ODOOOPS_TOKEN: bare.token, ODOOOPS_ROOT: "/nonexistent" };
    const fetch = (url: string, init?: RequestInit) => bare.fetch(url, init);
    const text = await runCliWith(["db", "clone", "prod", "--to", "stage", "--dry-run"], { fetch, env });
    expect(text.code).toBe(0);
    expect(text.stdout + text.stderr).toContain("across hosts: eu-1 → eu-2, relay through the coordinator");
    const json = await runCliWith(["--json", "db", "clone", "prod", "--to", "stage", "--dry-run"], { fetch, env });
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout).hosts).toMatchObject({ path: "relay", transfer: RELAY_NAME });
    expect(jobCount(bare)).toBe(before);
  });

  test("without backups.s3, queued: the chain and its export relay, the export knows its host; audited with the path", async () => {
    const r = await clone(bare, "stage", { from: "prod", confirm: "stage" });
    expect(r.status).toBe(202);
    const row = bare.deps.db.select().from(jobs).where(eq(jobs.id, r.body.job!.id)).get()!;
    const p = CrossHostCloneParams.parse(row.params);
    expect(p.via).toBe("relay");
    const relay = {
      relay: { hostId: p.fromHostId, from: "pack" as const, slug: "prod", transferId: p.transferId },
      manifest: {},
    };
    expect(restoreParamsOf(p, relay).transfer).toEqual(relay);
    const audit = bare.deps.audit.list({ action: "db.clone" });
    expect(audit[0]?.details).toMatchObject({ fromHost: "eu-1", toHost: "eu-2", path: "relay", job: row.id });
    // The chain is not run here (no hosts behind the rows): cancelled, so nothing is left queued.
    bare.deps.jobs.queue.cancel(row.id);
  });

  test("queued: one chain job on the coordinator; its restore is anonymize-free (done on the source) and neutralizes; audited", async () => {
    const before = jobCount(t);
    const r = await clone(t, "stage", { from: "prod", confirm: "stage" });
    expect(r.status).toBe(202);
    expect(r.body.job?.kind).toBe("db.clone-across");
    expect(jobCount(t)).toBe(before + 1);
    const row = t.deps.db.select().from(jobs).where(eq(jobs.id, r.body.job!.id)).get()!;
    // Not the target's host: the chain runs where the state is.
    expect(row.hostId).toBe(t.deps.fleet.localHostId);
    expect(row.lockKey).toStartWith("clone:");
    const p = CrossHostCloneParams.parse(row.params);
    expect(p).toMatchObject({ anonymize: true, neutralize: true, rebase: true, fromName: "eu-1", toName: "eu-2" });
    expect(p.exportToken).not.toBe(p.token);
    const restore = restoreParamsOf(p, { s3Key: "k/", manifest: {} });
    expect(restore).toMatchObject({ anonymize: false, neutralize: true, rebase: true, backupId: p.transferId });
    const audit = t.deps.audit.list({ action: "db.clone" });
    expect(audit[0]?.details).toMatchObject({ from: "prod", fromHost: "eu-1", toHost: "eu-2", job: row.id });
  });
});
