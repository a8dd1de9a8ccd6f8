/**
 * `odooops certs …` in-process against an in-process API (the injected fetch). Envs and stored
 * certificates are set up in state and the store; only the --wait test runs an agent, against
 * an ACME directory nothing listens on, so no job reaches nginx.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import type { CertificateView, RenewOutcome } from "../../src/certs/schema";
import { ConfigSchema } from "../../src/config/schema";
import { Agent } from "../../src/jobs/agent";
import { jobs } from "../../src/jobs/jobs.sql";
import type { Environment } from "../../src/env/env.sql";
import { makeTestApi } from "../support/api";
import { runCliOn } from "../support/cli";
import { freePort } from "../support/ports";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";
import { activeEnv, storeCert } from "../certs/env-fixtures";
import { makeCa, makeLeaf, type TestCa } from "../certs/fixtures";

const SLOW = 120_000;
const base = `cli-${randomSuffix()}.example.test`;
type TestApi = Awaited<ReturnType<typeof makeTestApi>>;
let t: TestApi;
let dir = "";
let ca: TestCa;
let acmeUrl = "";
const envs: Record<string, Environment> = {};

function cliOn(api: TestApi) {
  return (...argv: string[]) => runCliOn(api, argv);
}
const cli = (...argv: string[]) => cliOn(t)(...argv);

function jobCount(kind: string): number {
  return t.deps.db.select().from(jobs).where(eq(jobs.kind, kind)).all().length;
}

beforeAll(async () => {
  dir = makeTempDir("odooops-clicerts-");
  ca = await makeCa(dir);
  // Nothing listens there: a job that reaches the CA fails at once with "Cannot reach".
  acmeUrl = `https://127.0.0.1:${await freePort()}/dir`;
  t = await makeTestApi({
    config: ConfigSchema.parse({ baseDomain: base, acme: { directoryUrl: acmeUrl, preflight: "off" } }),
  });
  envs.shop = activeEnv(t.deps, { name: "shop", tier: "production" });
  envs.stage = activeEnv(t.deps, { name: "stage", tier: "staging" });
  envs.byo = activeEnv(t.deps, { name: "byo", tier: "production" });
  await storeCert(dir, t.deps.paths.certsDir, ca, envs.stage.domain, 10, "acme");
  await storeCert(dir, t.deps.paths.certsDir, ca, envs.byo.domain, 60, "imported");
}, SLOW);

afterAll(() => {
  t?.cleanup();
  if (dir) removeTempDir(dir);
});

describe("certs list", () => {
  test("a table of domains with env, source, serial, expiry, days left and status; --json is the API's view", async () => {
    const r = await cli("certs", "list");
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^DOMAIN\s+ENV\s+SOURCE\s+SERIAL\s+EXPIRES\s+DAYS LEFT\s+STATUS\s+NOTE$/);
    expect(lines).toHaveLength(4);
    const json = await cli("certs", "list", "--json");
    const certs = JSON.parse(json.stdout) as CertificateView[];
    const by = new Map(certs.map((c) => [c.env, c]));
    expect(by.get("stage")).toMatchObject({ source: "acme", status: "expiring" });
    expect(by.get("byo")).toMatchObject({ source: "imported", status: "valid" });
    expect(by.get("shop")).toMatchObject({ source: null, status: "missing" });
    const stageLine = lines.find((l) => l.startsWith(envs.stage.domain)) ?? "";
    expect(stageLine).toContain(by.get("stage")?.serial ?? "?");
    expect(stageLine).toContain(by.get("stage")?.notAfter?.slice(0, 10) ?? "?");
    expect(stageLine).toMatch(/\bexpiring\b/);
    expect(lines.find((l) => l.startsWith(envs.shop.domain))).toMatch(/\bmissing\s+no certificate yet$/);
  });
});

describe("certs renew", () => {
  test("without an env: job ids on stdout for what is due, the rest explained on stderr", async () => {
    const r = await cli("certs", "renew");
    expect(r.code).toBe(0);
    const ids = r.stdout.trim().split("\n");
    expect(ids).toHaveLength(2);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.stderr).toContain(`renewing ${envs.shop.domain} (shop): no certificate yet`);
    expect(r.stderr).toMatch(
      new RegExp(`renewing ${envs.stage.domain.replace(/\./g, "\\.")} \\(stage\\): expires in \\d+ day`),
    );
    expect(r.stderr).toContain(`${envs.byo.domain} (byo): imported certificate, valid for`);
    expect(r.stderr).toContain("rerun with --wait");
  });

  test("again: the pending jobs are reported, none is queued twice", async () => {
    const before = jobCount("certs.issue");
    const r = await cli("certs", "renew", "--json");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as RenewOutcome;
    expect(out.queued).toEqual([]);
    expect(out.pending.map((p) => p.env).sort()).toEqual(["shop", "stage"]);
    expect(jobCount("certs.issue")).toBe(before);
    const list = JSON.parse((await cli("certs", "list", "--json")).stdout) as CertificateView[];
    expect(list.find((c) => c.env === "shop")?.pendingJob).toBe(
      out.pending.find((p) => p.env === "shop")?.job?.id ?? "?",
    );
  });

  test("one env with an imported certificate: explained, nothing queued; --force queues one replacing it", async () => {
    const kept = await cli("certs", "renew", "byo");
    expect(kept.code).toBe(0);
    expect(kept.stdout).toBe("");
    expect(kept.stderr).toContain("--force replaces it with one from the CA");
    const forced = await cli("certs", "renew", envs.byo.domain, "--force");
    expect(forced.code).toBe(0);
    expect(forced.stdout.trim()).toMatch(/^[0-9a-f-]{36}$/);
    expect(forced.stderr).toContain("forced: replaces the imported certificate");
    expect(forced.stderr).toContain(`odooops jobs wait ${forced.stdout.trim()}`);
  });

  test("unknown env exits 4; without ACME configured exits 2 and says what to do", async () => {
    expect((await cli("certs", "renew", "nope")).code).toBe(4);
    const off = await makeTestApi({ config: ConfigSchema.parse({ baseDomain: base }) });
    try {
      const r = await cliOn(off)("certs", "renew");
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("ACME is not configured");
      expect(r.stderr).toContain("odooops certs import");
    } finally {
      off.cleanup();
    }
  });

  test(
    "--wait follows the job and fails with the CA's problem",
    async () => {
      const w = await makeTestApi({
        config: ConfigSchema.parse({ baseDomain: base, acme: { directoryUrl: acmeUrl, preflight: "off" } }),
      });
      const env = activeEnv(w.deps, { name: "waiter", tier: "production" });
      const agent = new Agent({
        identity: { hostId: "test", owner: `test:${process.pid}:certs` },
        channel: w.deps.jobs.queue,
        registry: w.deps.jobs.registry,
        deps: w.deps,
        pollMs: 100,
      });
      const unsubscribe = w.deps.jobs.events.onQueued(() => agent.poke());
      agent.start();
      try {
        const r = await cliOn(w)("certs", "renew", "waiter", "--wait");
        expect(r.code).toBe(1);
        expect(r.stderr).toContain("✗ Getting the certificate");
        expect(r.stderr).toContain(`Cannot reach the ACME server at ${acmeUrl}`);
        expect(r.stderr).toMatch(/job [0-9a-f-]+ \(waiter\) failed/);
        expect(
          w.deps.db
            .select()
            .from(jobs)
            .where(eq(jobs.lockKey, env.id))
            .all()
            .map((j) => [j.kind, j.status]),
        ).toEqual([["certs.issue", "failed"]]);
      } finally {
        unsubscribe();
        await agent.stop(5_000);
        w.cleanup();
      }
    },
    SLOW,
  );
});

describe("certs import", () => {
  test(
    "reads the PEM files, refuses a key of another certificate, queues a valid pair",
    async () => {
      const leaf = await makeLeaf(dir, ca, [envs.shop.domain], 90, "cli-shop");
      const other = await makeLeaf(dir, ca, [`other.${base}`], 90, "cli-other");
      const f = (name: string, text: string) => {
        writeFileSync(join(dir, name), text);
        return join(dir, name);
      };
      const cert = f("shop.pem", leaf.certPem);
      const key = f("shop.key", leaf.keyPem);
      const before = jobCount("certs.import");

      const wrongKey = await cli("certs", "import", "shop", "--cert", cert, "--key", f("other.key", other.keyPem));
      expect(wrongKey.code).toBe(2);
      expect(wrongKey.stderr).toContain("the private key does not belong to the certificate");
      const missing = await cli("certs", "import", "shop", "--cert", join(dir, "nope.pem"), "--key", key);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain(`cannot read --cert ${join(dir, "nope.pem")}: ENOENT`);
      const notPem = await cli("certs", "import", "shop", "--cert", cert, "--key", f("junk.key", "not a key\n"));
      expect(notPem.code).toBe(2);
      expect(notPem.stderr).toContain("is not a PEM file");
      expect((await cli("certs", "import", "shop", "--cert", cert)).code).toBe(2);
      expect(jobCount("certs.import")).toBe(before);

      const ok = await cli(
        "certs",
        "import",
        "shop",
        "--cert",
        cert,
        "--key",
        key,
        "--chain",
        f("chain.pem", ca.certPem),
      );
      expect(ok.code).toBe(0);
      const id = ok.stdout.trim();
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(ok.stderr).toContain("importing a certificate for shop");
      expect(t.deps.jobs.queue.row(id)).toMatchObject({ kind: "certs.import", target: "shop", status: "queued" });
      expect(jobCount("certs.import")).toBe(before + 1);
    },
    SLOW,
  );
});
