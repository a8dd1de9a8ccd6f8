/**
 * No copy of production is left behind by an import either: a real job process is killed
 * (SIGKILL) while pg_restore writes the upload into `<db>_new_<token>` (its pg_restore orphaned,
 * like a crashed daemon's). Resumed, the job ends the orphan, starts over and completes; cancelled
 * instead, the daemon's start-up sweep removes the copy, its staged filestore and the upload.
 * The env keeps serving throughout.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL, Subprocess } from "bun";
import { readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { removeLeftoverCopies } from "../../src/daemon/leftovers";
import { envResources } from "../../src/env/resources";
import { run } from "../../src/exec/run";
import { pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { runJob } from "../support/agents";
import { startEnvHost } from "../support/env-host";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";
import { answer } from "./serving";

let host: Awaited<ReturnType<typeof startEnvHost>>;
let admin: SQL;
let work: string;
const slug = `ic-${randomSuffix(6)}`;
const children: Subprocess[] = [];
let dump = "";

const env = () => host.env(slug);

beforeAll(async () => {
  host = await startEnvHost({ agent: false });
  work = makeTempDir("odooops-import-crash-");
  writeFileSync(join(work, "config.json"), JSON.stringify(host.config));
  admin = pgConnect({ host: host.pg.host, port: host.pg.port, user: host.pg.user, password: host.pg.password });
  const res = await host.api.request("/api/v1/environments", {
    method: "POST",
    body: JSON.stringify({ name: slug, tier: "dev", modules: ["base", "web"] }),
  });
  expect(res.status).toBe(202);
  expect((await runJob(host, ((await res.json()) as { job: JobView }).job.id)).status).toBe("succeeded");
  // A dump big enough that the kill lands while pg_restore writes it.
  await host.pg.query(env().dbName, async (db) => {
    await db.unsafe(`SET ROLE "${env().dbUser}"`);
    await db.unsafe(
      "CREATE TABLE crash_filler AS SELECT g AS id, repeat(md5(g::text), 12) AS payload FROM generate_series(1, 300000) g",
    );
  });
  dump = join(work, "prod.dump");
  const pg = host.pg;
  await run({
    argv: ["pg_dump", "-Fc", "-h", pg.host, "-p", String(pg.port), "-U", pg.user, "-f", dump, "-d", env().dbName],
    env: { PGPASSWORD: pg.password },
  });
}, 300_000);

afterAll(async () => {
  for (const c of children) c.kill(9);
  await admin?.close();
  await host?.stop();
  if (work) removeTempDir(work);
}, 120_000);

async function copies(): Promise<string[]> {
  const rows = await admin<
    { n: string }[]
  >`SELECT datname AS n FROM pg_database WHERE starts_with(datname, ${`${env().dbName.slice(0, 50)}_new_`})`;
  return rows.map((r) => r.n);
}

/** Everything of an import beside the env: copies, staged filestores, work files, uploads. */
async function traces(): Promise<string[]> {
  const staged = readdirSync(dirname(join(envResources(env(), host.deps).dataDir, "filestore", env().dbName))).filter(
    (e) => e !== env().dbName,
  );
  const list = (d: string) => {
    try {
      return readdirSync(d);
    } catch {
      return [];
    }
  };
  return [
    ...(await copies()),
    ...staged,
    ...list(host.deps.paths.workDir),
    ...list(join(host.deps.paths.dataDir, "imports")),
  ];
}

async function killDuringRestore(): Promise<string> {
  const res = await host.api.request(`/api/v1/environments/${slug}/db/import?neutralize=false`, {
    method: "POST",
    body: Bun.file(dump),
    headers: { "content-type": "application/octet-stream" },
  });
  expect(res.status).toBe(202);
  const job = (await res.json()) as JobView;
  const child = Bun.spawn(
    [
      "bun",
      join(import.meta.dir, "../support/agent-child.ts"),
      host.api.root,
      join(work, "config.json"),
      `test:child-${randomSuffix(6)}`,
    ],
    { stdout: "ignore", stderr: "ignore" },
  );
  children.push(child);
  const prefix = `${env().dbName.slice(0, 50)}_new_`;
  for (let i = 0; ; i++) {
    const [row] =
      await admin`SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND starts_with(datname, ${prefix}) AND query ILIKE '%COPY%'`;
    if (row) break;
    if (i > 60_000) throw new Error("pg_restore never started");
    await Bun.sleep(5);
  }
  child.kill(9);
  await child.exited;
  expect(await copies()).toHaveLength(1);
  return job.id;
}

describe("kill -9 while an import restores into its copy", () => {
  test("resumed: the orphaned restore is ended, the job starts over and completes; nothing left", async () => {
    const jobId = await killDuringRestore();
    // The job will resume: its copy is not a leftover.
    await removeLeftoverCopies(host.deps);
    expect(await copies()).toHaveLength(1);
    expect(host.deps.jobs.queue.recover({ hostId: "test", currentOwner: "test:resumer" })).toBe(1);
    const done = await runJob(host, jobId);
    expect(done.error).toBeNull();
    expect(done.status).toBe("succeeded");
    expect(await traces()).toEqual([]);
    expect(await answer(host, env().domain, "/web/health?db_server_status=1")).toMatchObject({ status: 200 });
  }, 300_000);

  test("cancelled after the crash: the start-up sweep removes the copy, its staged filestore and the upload", async () => {
    const jobId = await killDuringRestore();
    expect(host.deps.jobs.queue.recover({ hostId: "test", currentOwner: "test:resumer" })).toBe(1);
    expect(host.deps.jobs.queue.cancel(jobId).status).toBe("cancelled");
    expect((await traces()).length).toBeGreaterThan(0);
    const removed = await removeLeftoverCopies(host.deps);
    expect(removed.some((r) => r.startsWith(`database ${env().dbName.slice(0, 50)}_new_`))).toBe(true);
    expect(await traces()).toEqual([]);
    expect(await answer(host, env().domain, "/web/health?db_server_status=1")).toMatchObject({ status: 200 });
  }, 300_000);
});
