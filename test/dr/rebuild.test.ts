/**
 * `dr rebuild` on a real host (PostgreSQL, dockerd, nginx, the Odoo stand-in, s3rver, pebble):
 * two envs with a marker row and an attachment, backed up to the local dir and S3; production has
 * a release deployed from a git repository (a local bare repo as the project's remote) and HTTPS
 * from pebble. Then everything of them on the host is wiped (containers, release images,
 * databases, roles, data dirs, vhosts, certificates, the git mirror, the local backup copies)
 * while the state stays. The rebuild brings each back from S3, production first, with its release
 * image built again from the deployed commit and a new certificate; it survives a kill -9 in the
 * middle, and a rerun leaves a running env alone.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { verifyServedCertificate } from "../../src/certs";
import { ConfigSchema } from "../../src/config/schema";
import { eq } from "drizzle-orm";
import { backups } from "../../src/db/backup.sql";
import type { RebuildOutcome } from "../../src/dr/rebuild";
import { servingImage } from "../../src/dr/rebuild-plan";
import { environments, type Environment } from "../../src/env/env.sql";
import { envHost } from "../../src/env/host";
import { envResources } from "../../src/env/resources";
import { removeVhost, reload } from "../../src/host/nginx";
import { databaseExists, dropDatabase, dropRole, pgConnect, roleExists } from "../../src/host/postgres";
import { dockerClient } from "../../src/host/docker/client";
import { run } from "../../src/exec/run";
import { jobs } from "../../src/jobs/jobs.sql";
import type { JobView } from "../../src/jobs/view";
import { crashThenResume, runJob } from "../support/agents";
import { runCliOn } from "../support/cli";
import { removeByLabel } from "../support/docker";
import { shopManifest } from "../support/deploy-env";
import { startEnvHost } from "../support/env-host";
import { startPebble, type TestPebble } from "../support/pebble";
import { freePort } from "../support/ports";
import { startS3, type TestS3 } from "../support/s3";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";
import { makeRepo } from "../git/repo";

let s3: TestS3;
let pebble: TestPebble;
let host: Awaited<ReturnType<typeof startEnvHost>>;
let dir = "";
let issuerRoot = "";
let remote = "";
const prod = `rbp-${randomSuffix(6)}`;
const dev = `rbd-${randomSuffix(6)}`;
const marker = `marker-${randomSuffix(8)}`;
const baseDomain = `rb-${randomSuffix()}.odooops.test`;

beforeAll(async () => {
  s3 = await startS3();
  const target = await s3.target(`rb-${randomSuffix()}`, { prefix: "odooops" });
  host = await startEnvHost({
    agent: false,
    configOverrides: {
      backups: { s3: target },
      baseDomain,
      deploy: { drainSec: 0, healthTimeoutSec: 60, install: ["shop_extra"], runTests: false, rehearse: false },
    },
  });
  // HTTPS for production from pebble (real HTTP-01 through the host's nginx), as in test/certs/env-tls.test.ts.
  pebble = await startPebble({ httpPort: host.nginx.port });
  dir = makeTempDir("odooops-rebuild-");
  const caFile = join(dir, "pebble-listener-ca.pem");
  writeFileSync(caFile, pebble.listenerCaPem);
  host.config.nginx.httpsPort = await freePort();
  host.config.acme = ConfigSchema.parse({
    acme: {
      directoryUrl: pebble.directoryUrl,
      email: "ops@example.com",
      caFile,
      preflight: "off",
      tiers: ["production"],
    },
  }).acme;
  issuerRoot = await pebble.issuerRootPem();
  await pebble.addHost(`${prod}.${baseDomain}`);
  // The project's repository: a bare repo the mirror is cloned from, as from a git host.
  const work = await makeRepo(join(dir, "work"));
  await work.commit({
    "shop_extra/__manifest__.py": shopManifest("1.0"),
    ".odooops/policies.yaml": "health_gates: {}\n",
  });
  remote = join(dir, "remote.git");
  await run({ argv: ["git", "clone", "--quiet", "--bare", work.dir, remote] });
}, 240_000);

afterAll(async () => {
  for (const name of [prod, dev]) {
    const e = host?.deps.db.select().from(environments).where(eq(environments.slug, name)).get();
    if (!e) continue;
    await removeByLabel(`odooops.env=${e.id}`);
    await envHost(host.deps)
      .withAdmin(async (sql) => {
        await dropDatabase(sql, e.dbName);
        await dropRole(sql, e.dbUser);
      })
      .catch(() => undefined);
  }
  await host?.stop();
  await s3?.destroy();
  await pebble?.stop();
  if (dir) removeTempDir(dir);
}, 180_000);

const env = (slug: string): Environment =>
  host.deps.db.select().from(environments).where(eq(environments.slug, slug)).get()!;
const api = (method: string, path: string, body?: unknown) =>
  host.api.request(`/api/v1${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
const cli = (argv: string[]) => runCliOn(host.api, argv);
const filestoreOf = (e: Environment) => join(envResources(e, host.deps).dataDir, "filestore", e.dbName);

async function sqlOf<T>(e: Environment, fn: (sql: ReturnType<typeof pgConnect>) => Promise<T>): Promise<T> {
  const sql = pgConnect({
    host: host.pg.host,
    port: host.pg.port,
    user: host.pg.user,
    password: host.pg.password,
    database: e.dbName,
  });
  try {
    return await fn(sql);
  } finally {
    await sql.close();
  }
}

async function createEnv(name: string, tier: string): Promise<void> {
  const res = await api("POST", "/environments", { name, tier, modules: ["base", "web"] });
  expect(res.status).toBe(202);
  const job = await runJob(host, ((await res.json()) as { job: JobView }).job.id);
  expect(job.error).toBeNull();
}

async function backUp(name: string): Promise<string> {
  const res = await api("POST", `/environments/${name}/backups`);
  expect(res.status).toBe(202);
  const job = await runJob(host, ((await res.json()) as JobView).id);
  expect(job.error).toBeNull();
  return String(job.result?.backupId);
}

async function rebuild(body: Record<string, unknown>): Promise<{ status: number; out: RebuildOutcome }> {
  const res = await api("POST", "/dr/rebuild", body);
  return { status: res.status, out: (await res.json()) as RebuildOutcome };
}

/** Everything of the env on the host goes; its rows in state stay, as after restore-state. */
async function wipe(e: Environment): Promise<void> {
  await removeByLabel(`odooops.env=${e.id}`);
  const h = envHost(host.deps);
  await h.withAdmin(async (sql) => {
    await dropDatabase(sql, e.dbName);
    await dropRole(sql, e.dbUser);
  });
  if (await removeVhost(h.nginx, e.slug)) await reload(h.nginx);
  rmSync(envResources(e, host.deps).dir, { recursive: true, force: true });
  // Its certificate and the project's git mirror were on the lost host's disk too.
  rmSync(join(host.deps.paths.certsDir, e.domain), { recursive: true, force: true });
  rmSync(join(host.deps.paths.certsDir, "_versions", e.domain), { recursive: true, force: true });
  rmSync(host.deps.paths.gitCacheDir, { recursive: true, force: true });
  // The local copies died with the host: only S3 is left.
  for (const b of host.deps.db.select().from(backups).where(eq(backups.envId, e.id)).all())
    if (b.localPath) rmSync(b.localPath, { recursive: true, force: true });
}

/** GET through nginx over HTTPS, with SNI and Host = domain, trusting pebble's root. */
function httpsStatus(domain: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: host.config.nginx.httpsPort,
        servername: domain,
        ca: issuerRoot,
        path,
        headers: { host: domain },
        agent: false,
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

const servedCert = (domain: string) =>
  verifyServedCertificate({ host: "127.0.0.1", port: host.config.nginx.httpsPort, servername: domain, ca: issuerRoot });

/** Production answers over HTTPS (plain HTTP redirects there), the others over HTTP. */
async function answers(e: Environment): Promise<void> {
  if (e.tier === "production") {
    expect((await host.viaNginx(e.domain, "/web/login")).status).toBe(301);
    expect(await httpsStatus(e.domain, "/web/login")).toBe(200);
  } else {
    const res = await host.viaNginx(e.domain, "/web/login");
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  }
  const rows = await sqlOf(e, (sql) => sql<{ name: string }[]>`SELECT name FROM res_partner WHERE name = ${marker}`);
  expect(rows.length).toBe(1);
  expect(readFileSync(join(filestoreOf(e), "ab", "ab12cd"), "utf8")).toBe(`attachment of ${e.slug}`);
}

const prodBackups: string[] = [];
/** Production's deployed release and the certificate served before the wipe. */
const deployed = { image: "", sha: "", serial: "" };
const jobCount = () => host.deps.db.select({ id: jobs.id }).from(jobs).all().length;

describe("dr rebuild", () => {
  test("two envs with a marker row and an attachment; the dev one not backed up yet is refused", async () => {
    await createEnv(dev, "dev");
    await createEnv(prod, "production");
    expect(env(prod).httpFallbackReason).toBeNull();
    expect((await api("PUT", "/projects/default", { repoUrl: `file://${remote}` })).status).toBe(200);
    const queued = await api("POST", `/environments/${prod}/deployments`, {});
    expect(queued.status).toBe(202);
    const deploy = await runJob(host, ((await queued.json()) as { job: JobView }).job.id);
    expect(deploy.error).toBeNull();
    const release = servingImage(host.deps.db, env(prod));
    expect(release.release).toBe(true);
    deployed.image = release.image;
    deployed.sha = release.commit!;
    const served = await servedCert(env(prod).domain);
    expect(served.problems).toEqual([]);
    deployed.serial = served.info.serial;
    for (const slug of [prod, dev]) {
      const e = env(slug);
      await sqlOf(e, (sql) => sql`INSERT INTO res_partner (name) VALUES (${marker})`);
      mkdirSync(join(filestoreOf(e), "ab"), { recursive: true });
      writeFileSync(join(filestoreOf(e), "ab", "ab12cd"), `attachment of ${slug}`);
    }
    prodBackups.push(await backUp(prod));
    const { status, out } = await rebuild({ all: true, dryRun: true });
    expect(status).toBe(200);
    const mine = out.plan.filter((p) => p.env === prod || p.env === dev);
    expect(mine.map((p) => p.env)).toEqual([prod, dev]);
    expect(mine[0]!.backup!.id).toBe(prodBackups[0]!);
    expect(mine[0]!.refused).toBeNull();
    expect(mine[1]!.backup).toBeNull();
    expect(mine[1]!.refused).toContain(`no completed backup of ${dev}`);
    expect(out.jobs).toEqual([]);
  }, 600_000);

  test("bad input: neither env nor all, both, an unknown env, an unknown field: clear errors, nothing queued", async () => {
    const before = jobCount();
    expect((await rebuild({})).status).toBe(400);
    expect((await rebuild({ env: prod, all: true })).status).toBe(400);
    expect((await rebuild({ env: "no-such-env" })).status).toBe(404);
    expect((await rebuild({ all: true, extra: 1 })).status).toBe(400);
    const r = await cli(["dr", "rebuild"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("--env NAME, or --all");
    expect(jobCount()).toBe(before);
  });

  test("after the wipe the dry run names the S3 backups, their age and the local image", async () => {
    // A second prod backup: the newest one is used.
    prodBackups.push(await backUp(prod));
    await backUp(dev);
    await wipe(env(prod));
    await wipe(env(dev));
    expect(await envHost(host.deps).withAdmin((sql) => databaseExists(sql, env(prod).dbName))).toBe(false);
    const r = await cli(["dr", "rebuild", "--all", "--dry-run"]);
    expect(r.code).toBe(0);
    const lines = r.stderr.split("\n").filter((l) => l.startsWith(prod) || l.startsWith(dev));
    expect(lines[0]).toStartWith(`${prod} [production]: backup ${prodBackups[1]} (`);
    expect(lines[0]).toContain("old, s3), image");
    // The release image went with the host: it is built again from the deployed commit.
    expect(lines[0]).toContain(`image ${deployed.image} (build)`);
    expect(lines[1]).toContain("(local)");
    expect(lines[1]).toStartWith(`${dev} [dev]: backup `);
  }, 300_000);

  test("production rebuilt from S3 despite a kill -9 after the restore, answering with its data", async () => {
    const { status, out } = await rebuild({ env: prod });
    expect(status).toBe(200);
    expect(out.jobs.length).toBe(1);
    const restoreIdx = out.jobs[0]!.job.steps.findIndex((s) => s.name === "restore");
    expect(restoreIdx).toBeGreaterThan(0);
    const job = await crashThenResume(host, out.jobs[0]!.job.id, restoreIdx);
    expect(job.error).toBeNull();
    expect(job.result?.backup).toBe(prodBackups[1]!);
    expect(job.result?.alreadyRunning).toBe(false);
    const e = env(prod);
    expect(e.status).toBe("active");
    expect(await envHost(host.deps).withAdmin((sql) => roleExists(sql, e.dbUser))).toBe(true);
    await answers(e);
    // The release: built again from the deployed commit, fetched into a mirror cloned anew.
    expect(job.result?.image).toEqual({ image: deployed.image, from: "build" });
    const docker = dockerClient(host.config.docker);
    expect((await docker.inspectImage(deployed.image))?.Config.Labels?.["odooops.commit"]).toBe(deployed.sha);
    expect((await docker.inspectContainer(e.containerName!))?.Config.Image).toBe(deployed.image);
    expect(existsSync(host.deps.paths.gitCacheDir)).toBe(true);
    // The certificate: a new one from the CA, served for the env's name.
    const cert = await servedCert(e.domain);
    expect(cert.problems).toEqual([]);
    expect(cert.info.serial).not.toBe(deployed.serial);
    expect(existsSync(join(host.deps.paths.workDir, `restore-${e.dbName}_dr_rebuild.dump`))).toBe(false);
  }, 600_000);

  test("--all: the dev env is rebuilt, production is left alone (already running)", async () => {
    const containerBefore = env(prod).containerName;
    const { out } = await rebuild({ all: true });
    const mine = out.jobs.filter((j) => j.env === prod || j.env === dev);
    expect(mine.map((j) => j.env)).toEqual([prod, dev]);
    const results = new Map<string, JobView>();
    for (const j of mine) results.set(j.env, await runJob(host, j.job.id));
    expect(results.get(prod)!.error).toBeNull();
    expect(results.get(prod)!.result?.alreadyRunning).toBe(true);
    expect(results.get(prod)!.result?.backup).toBeNull();
    expect(env(prod).containerName).toBe(containerBefore);
    expect(results.get(dev)!.error).toBeNull();
    expect(results.get(dev)!.result?.alreadyRunning).toBe(false);
    await answers(env(prod));
    await answers(env(dev));
  }, 600_000);
});
