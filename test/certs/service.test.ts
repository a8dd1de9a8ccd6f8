/**
 * Certificate listing, renewal requests (the daily schedule and `certs renew`) and import
 * validation over real state and a real certificate store; nothing runs the queued jobs.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { renewCertificatesTick, RENEWAL_PATTERN } from "../../src/certs/schedule";
import { listCertificates, startCertsRenew, startCertsImport } from "../../src/certs/service";
import type { StoredCertificate } from "../../src/certs";
import { ConfigSchema } from "../../src/config/schema";
import { schedulesFor } from "../../src/daemon/schedules";
import { environments, type Environment } from "../../src/env/env.sql";
import { Conflict, Invalid, NotFound } from "../../src/errors";
import { jobs } from "../../src/jobs/jobs.sql";
import { makeTestApi } from "../support/api";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";
import { activeEnv, storeCert } from "./env-fixtures";
import { makeCa, makeLeaf, type TestCa } from "./fixtures";

const SLOW = 120_000;
const base = `certs-${randomSuffix()}.example.test`;
let t: Awaited<ReturnType<typeof makeTestApi>>;
let dir = "";
let ca: TestCa;
const envs: Record<string, Environment> = {};
const certs: Record<string, StoredCertificate> = {};

function issueJobs(envId?: string) {
  return t.deps.db
    .select()
    .from(jobs)
    .where(eq(jobs.kind, "certs.issue"))
    .all()
    .filter((j) => envId === undefined || j.lockKey === envId);
}

beforeAll(async () => {
  dir = makeTempDir("odooops-certsvc-");
  ca = await makeCa(dir);
  const config = ConfigSchema.parse({
    baseDomain: base,
    tiers: { production: { maxEnvs: 20 } },
    acme: { email: "ops@example.com", directoryUrl: "https://127.0.0.1:9/dir" },
  });
  t = await makeTestApi({ config });
  const mk = (name: string, tier: Environment["tier"], status?: Environment["status"]) =>
    (envs[name] = activeEnv(t.deps, { name, tier, status }));
  mk("shop", "production");
  mk("stage", "staging");
  mk("valid", "production");
  mk("byo", "production");
  mk("byook", "staging");
  mk("devbox", "dev");
  mk("devtls", "dev");
  mk("sleepy", "production", "stopped");
  mk("broken", "production", "failed");
  mk("corrupt", "production");
  const certsDir = t.deps.paths.certsDir;
  certs.stage = await storeCert(dir, certsDir, ca, envs.stage.domain, 10, "acme");
  certs.valid = await storeCert(dir, certsDir, ca, envs.valid.domain, 60, "acme");
  certs.byo = await storeCert(dir, certsDir, ca, envs.byo.domain, 5, "imported");
  certs.byook = await storeCert(dir, certsDir, ca, envs.byook.domain, 80, "imported");
  certs.devtls = await storeCert(dir, certsDir, ca, envs.devtls.domain, 80, "acme");
  certs.gone = await storeCert(dir, certsDir, ca, `gone.${base}`, 40, "acme");
  // A store entry whose meta.json is cut off (disk full, hand edit).
  const version = join(certsDir, "_versions", envs.corrupt.domain, "x");
  mkdirSync(version, { recursive: true });
  writeFileSync(join(version, "meta.json"), "{");
  symlinkSync(join("_versions", envs.corrupt.domain, "x"), join(certsDir, envs.corrupt.domain));
}, SLOW);

afterAll(() => {
  t?.cleanup();
  if (dir) removeTempDir(dir);
});

describe("certificate listing", () => {
  test("stored certificates with their env, and envs of TLS tiers that have none", () => {
    const views = listCertificates(t.deps);
    const by = new Map(views.map((v) => [v.env ?? v.domain, v]));
    expect(views.map((v) => v.domain)).toEqual([...views.map((v) => v.domain)].sort());
    expect(by.get("stage")).toMatchObject({
      source: "acme",
      status: "expiring",
      serial: certs.stage.info.serial,
      tier: "staging",
    });
    expect(by.get("stage")?.daysLeft).toBeLessThanOrEqual(10);
    expect(by.get("valid")).toMatchObject({
      source: "acme",
      status: "valid",
      notAfter: certs.valid.info.notAfter.toISOString(),
    });
    expect(by.get("byo")).toMatchObject({ source: "imported", status: "expiring" });
    expect(by.get("byo")?.detail).toContain("import a new one");
    expect(by.get("devtls")).toMatchObject({ source: "acme", status: "valid", tier: "dev" });
    expect(by.get("shop")).toMatchObject({
      source: null,
      status: "missing",
      serial: null,
      detail: "no certificate yet",
    });
    expect(by.get("sleepy")).toMatchObject({ status: "missing" });
    expect(by.get("corrupt")).toMatchObject({ status: "unreadable", source: null });
    expect(by.get("corrupt")?.detail).toContain("meta.json is unreadable");
    expect(by.get(`gone.${base}`)).toMatchObject({ env: null, status: "valid" });
    expect(by.get(`gone.${base}`)?.detail).toContain("no live environment");
    // dev without a certificate is not a TLS tier; a failed env has no vhost to put one in front of.
    expect(by.has("devbox")).toBe(false);
    expect(by.has("broken")).toBe(false);
  });
});

describe("daily renewal", () => {
  test("is scheduled only while ACME is enabled", () => {
    expect(
      schedulesFor(t.deps.config)
        .filter((s) => s.name === "certs.renew")
        .map((s) => s.pattern),
    ).toEqual([RENEWAL_PATTERN]);
    expect(schedulesFor(ConfigSchema.parse({})).some((s) => s.name === "certs.renew")).toBe(false);
  });

  test("queues due and missing certificates, leaves valid and imported ones alone", () => {
    const out = renewCertificatesTick(t.deps);
    expect(out.queued.map((q) => q.env).sort()).toEqual(["shop", "sleepy", "stage"]);
    expect(out.pending).toEqual([]);
    const skipped = new Map(out.skipped.map((s) => [s.env, s]));
    expect([...skipped.keys()].sort()).toEqual(["byo", "byook", "corrupt", "devtls", "valid"]);
    expect(skipped.get("byo")?.attention).toBe(true);
    expect(skipped.get("corrupt")).toMatchObject({ attention: true, job: null });
    expect(skipped.get("byook")?.attention).toBe(false);
    for (const q of out.queued) {
      const row = t.deps.jobs.queue.row(q.job?.id ?? "");
      expect(row).toMatchObject({
        kind: "certs.issue",
        status: "queued",
        lockKey: envs[q.env].id,
        target: q.env,
        createdBy: "scheduler",
      });
      expect(row.params).toMatchObject({ envId: envs[q.env].id, force: false });
    }
    expect(out.queued.find((q) => q.env === "stage")?.reason).toContain("expires in");
  });

  test("the next tick does not duplicate pending jobs", () => {
    const before = issueJobs().length;
    const out = renewCertificatesTick(t.deps);
    expect(out.queued).toEqual([]);
    expect(out.pending.map((p) => p.env).sort()).toEqual(["shop", "sleepy", "stage"]);
    expect(issueJobs().length).toBe(before);
  });

  test("a certificate entering the renewal window is queued on that day", () => {
    const day = 86_400_000;
    const at = new Date(certs.valid.info.notAfter.getTime() - 29 * day);
    const out = renewCertificatesTick(t.deps, at);
    expect(out.queued.map((q) => q.env)).toEqual(["valid"]);
    expect(out.skipped.find((s) => s.env === "byook")?.reason).toContain("imported certificate");
  });
});

describe("renewing one environment", () => {
  test("a valid certificate is kept unless forced; a forced one is queued once", () => {
    const kept = startCertsRenew(t.deps, { env: "devtls", force: false }, "admin");
    expect(kept.queued).toEqual([]);
    expect(kept.skipped[0].reason).toContain("--force renews anyway");
    const forced = startCertsRenew(t.deps, { env: envs.devtls.domain, force: true }, "admin");
    expect(forced.queued.map((q) => [q.env, q.reason])).toEqual([["devtls", "forced"]]);
    expect(t.deps.jobs.queue.row(forced.queued[0].job?.id ?? "").params).toMatchObject({ force: true });
    const again = startCertsRenew(t.deps, { env: "devtls", force: true }, "admin");
    expect(again.queued).toEqual([]);
    expect(again.pending[0].job?.id).toBe(forced.queued[0].job?.id);
    expect(issueJobs(envs.devtls.id)).toHaveLength(1);
  });

  test("an imported certificate is replaced only when that env is named with --force", () => {
    const all = startCertsRenew(t.deps, { force: true }, "admin");
    expect(all.queued.map((q) => q.env)).not.toContain("byook");
    const kept = startCertsRenew(t.deps, { env: "byook", force: false }, "admin");
    expect(kept.skipped[0].reason).toContain("--force replaces it");
    const forced = startCertsRenew(t.deps, { env: "byook", force: true }, "admin");
    expect(forced.queued[0].reason).toContain("replaces the imported certificate");
  });

  test("unknown, failed and ACME-less requests are refused", async () => {
    expect(() => startCertsRenew(t.deps, { env: "nope", force: false }, "admin")).toThrow(NotFound);
    expect(() => startCertsRenew(t.deps, { env: "broken", force: false }, "admin")).toThrow(Conflict);
    const off = await makeTestApi({ config: ConfigSchema.parse({ baseDomain: base }) });
    try {
      expect(() => startCertsRenew(off.deps, { force: false }, "admin")).toThrow(/ACME is not configured/);
    } finally {
      off.cleanup();
    }
  });
});

describe("import", () => {
  test(
    "validates the pair for the env's domain before queueing; the key is sealed in the job",
    async () => {
      const leaf = await makeLeaf(dir, ca, [envs.shop.domain], 90, "import-shop");
      const other = await makeLeaf(dir, ca, [`other.${base}`], 90, "import-other");
      const count = () => t.deps.db.select().from(jobs).where(eq(jobs.kind, "certs.import")).all().length;
      expect(() =>
        startCertsImport(t.deps, { env: "shop", certPem: leaf.certPem, keyPem: other.keyPem }, "admin"),
      ).toThrow(/does not belong/);
      expect(() =>
        startCertsImport(t.deps, { env: "shop", certPem: other.certPem, keyPem: other.keyPem }, "admin"),
      ).toThrow(/does not cover/);
      expect(() =>
        startCertsImport(
          t.deps,
          { env: "shop", certPem: leaf.certPem, keyPem: leaf.keyPem, chainPem: leaf.certPem },
          "admin",
        ),
      ).toThrow(Invalid);
      expect(() =>
        startCertsImport(t.deps, { env: "broken", certPem: leaf.certPem, keyPem: leaf.keyPem }, "admin"),
      ).toThrow(Conflict);
      expect(count()).toBe(0);
      const job = startCertsImport(
        t.deps,
        { env: "shop", certPem: leaf.certPem, keyPem: leaf.keyPem, chainPem: ca.certPem },
        "admin",
      );
      const row = t.deps.jobs.queue.row(job.id);
      expect(row).toMatchObject({ kind: "certs.import", lockKey: envs.shop.id, target: "shop" });
      const params = row.params as { fullchainPem: string; keyEnc: string };
      expect(params.fullchainPem).toContain(ca.certPem.trim());
      expect(JSON.stringify(row.params)).not.toContain("PRIVATE KEY");
      expect(t.deps.box.open(params.keyEnc)).toBe(leaf.keyPem);
      expect(count()).toBe(1);
      const status = t.deps.db
        .select({ s: environments.status })
        .from(environments)
        .where(eq(environments.id, envs.shop.id))
        .get();
      expect(status?.s).toBe("active");
    },
    SLOW,
  );
});
