/**
 * CI executes the 3 a.m. runbook: the `sh runbook` block of docs/disaster-recovery.md, taken from
 * the document itself, recovers a throwaway host. The host (the built binary as daemon and CLI,
 * its own PostgreSQL, nginx and s3rver) holds a production and a dev env with a marker row and an
 * attachment, their backups and a state backup in S3; production serves a release deployed from
 * the project's repository (a local bare repo, which outlives the host as a git host would).
 * Then it is wiped: daemon stopped, root deleted (git mirror included), containers, networks and
 * release images removed by the test's name prefix, the env databases and roles dropped, vhosts
 * gone. The runbook, given only the recovery key and the bucket's settings, must bring every env
 * back answering through nginx with its data, production on its release built again from the
 * deployed commit, and the audit chain intact.
 *
 * What the test changes in the block: the values in <angle brackets> (the bucket's settings, the
 * recovery key) and the two lines marked `# host-specific`: the install (the binary is already on
 * PATH here) and `systemctl start odooops` (no systemd in CI: the test starts the same binary's
 * `serve` on the root instead).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Subprocess } from "bun";
import { eq } from "drizzle-orm";
import { resolvePaths } from "../../src/config/paths";
import { deployments } from "../../src/deploy/deploy.sql";
import { dockerClient } from "../../src/host/docker/client";
import { environments } from "../../src/env/env.sql";
import { run } from "../../src/exec/run";
import { nginx as nginxCommands } from "../../src/host/nginx/commands";
import { dropDatabase, dropRole, pgAdmin, pgConnect } from "../../src/host/postgres";
import { BIN } from "../support/binary-host";
import { removeByNamePrefix, testNamePrefix } from "../support/docker";
import { hostConfig, randomPortBase, writeHostConfig } from "../support/host-config";
import { startNginx, type TestNginx } from "../support/nginx";
import { freePort } from "../support/ports";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { startS3, type TestS3 } from "../support/s3";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";
import { shopManifest } from "../support/deploy-env";
import { makeRepo } from "../git/repo";
import { openState } from "../../src/state/db";

const DOC = join(import.meta.dir, "../../docs/disaster-recovery.md");
const HOST_SPECIFIC = "# host-specific";

/** The runbook: the one fenced block whose info string is `sh runbook`. */
function runbookBlock(markdown: string): string {
  const blocks = [...markdown.matchAll(/^```sh runbook\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? "");
  if (blocks.length !== 1) throw new Error(`expected one \`sh runbook\` block, found ${blocks.length}`);
  return blocks[0] ?? "";
}

/** Splits the block at its host-specific lines: [script, host-specific line, script, …]. */
function runbookSegments(block: string): { script: string; hostLine: string | null }[] {
  const out: { script: string; hostLine: string | null }[] = [];
  let current: string[] = [];
  for (const line of block.split("\n")) {
    if (line.includes(HOST_SPECIFIC)) {
      out.push({ script: current.join("\n"), hostLine: line });
      current = [];
    } else current.push(line);
  }
  out.push({ script: current.join("\n"), hostLine: null });
  return out;
}

let pg: TestPostgres;
let nginx: TestNginx;
let s3: TestS3;
let root: string;
let outside: string;
let namePrefix: string;
let port: number;
let daemon: Subprocess | null = null;
/** The daemon the runbook's start line left running. */
let daemonPid = 0;
let bucket: Awaited<ReturnType<TestS3["target"]>>;
const marker = `runbook-${randomSuffix(8)}`;
const envNames = { production: `rbk-p-${randomSuffix(4)}`, dev: `rbk-d-${randomSuffix(4)}` };
const envs: { slug: string; domain: string; dbName: string; dbUser: string }[] = [];
/** The project's repository (outside the host's root) and production's deployed release. */
let repoDir = "";
let remote = "";
const release = { image: "", sha: "" };

beforeAll(async () => {
  expect(existsSync(BIN)).toBe(true);
  pg = await startPostgres({ dockerAccess: false });
  nginx = await startNginx();
  s3 = await startS3();
  root = nginx.dir;
  outside = makeTempDir("odooops-runbook-ops-");
  repoDir = makeTempDir("odooops-runbook-repo-");
  const work = await makeRepo(join(repoDir, "work"));
  await work.commit({
    "shop_extra/__manifest__.py": shopManifest("1.0"),
    ".odooops/policies.yaml": "health_gates: {}\n",
  });
  remote = join(repoDir, "remote.git");
  await run({ argv: ["git", "clone", "--quiet", "--bare", work.dir, remote] });
  namePrefix = testNamePrefix();
  port = await freePort();
  bucket = await s3.target(`rbk-${randomSuffix()}`, { prefix: "odooops" });
  writeHostConfig(
    root,
    hostConfig(
      { pg, nginx, baseDomain: "runbook.localhost", namePrefix, portsFrom: randomPortBase() },
      { backups: { s3: bucket }, deploy: { drainSec: 0, runTests: false, rehearse: false } },
    ),
  );
}, 120_000);

afterAll(async () => {
  daemon?.kill(9);
  if (daemonPid > 0) {
    try {
      process.kill(daemonPid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await removeByNamePrefix(namePrefix);
  if (pg) {
    const admin = pgAdmin({ host: pg.host, port: pg.port, user: pg.user, password: pg.password });
    for (const e of envs) {
      await dropDatabase(admin, e.dbName).catch(() => undefined);
      await dropRole(admin, e.dbUser).catch(() => undefined);
    }
    await admin.close();
  }
  await nginx?.stop();
  await pg?.stop();
  await s3?.destroy();
  if (outside) removeTempDir(outside);
  if (repoDir) removeTempDir(repoDir);
}, 180_000);

const processEnv = () => ({
  ...process.env,
  ODOOOPS_ROOT: root,
  CI: "true",
  HOME: outside,
  PATH: `${dirname(BIN)}:${process.env.PATH ?? ""}`,
});

async function startDaemon(): Promise<void> {
  daemon = Bun.spawn([BIN, "serve", "--listen", `127.0.0.1:${port}`], {
    env: { ...processEnv(), ODOOOPS_ADMIN_PASSWORD: "runbook-admin-pw" },
    stdout: "ignore",
    stderr: "ignore",
  });
  for (let i = 0; i < 400; i++) {
    if (
      existsSync(join(root, "run/local-token")) &&
      (await fetch(`http://127.0.0.1:${port}/api/v1/health`).then(
        (r) => r.ok,
        () => false,
      ))
    )
      return;
    await Bun.sleep(50);
  }
  throw new Error("daemon did not come up");
}

async function stopDaemon(): Promise<void> {
  daemon?.kill("SIGTERM");
  await daemon?.exited;
  daemon = null;
}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const token = readFileSync(join(root, "run/local-token"), "utf8").trim();
  const res = await fetch(`http://127.0.0.1:${port}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const out = (await res.json()) as T;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(out)}`);
  return out;
}

async function waitJob(id: string): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    const j = await api<{ status: string; error: string | null }>("GET", `/jobs/${id}`);
    if (j.status === "succeeded") return;
    if (["failed", "cancelled"].includes(j.status)) throw new Error(`job ${id} ${j.status}: ${j.error}`);
    await Bun.sleep(200);
  }
  throw new Error(`job ${id} did not end`);
}

async function cli(...argv: string[]) {
  const p = Bun.spawn([BIN, ...argv], { env: processEnv(), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { code, stdout, stderr };
}

function defined(v: string | undefined, what: string): string {
  if (v === undefined) throw new Error(`the test bucket has no ${what}`);
  return v;
}

/** The image and commit of the env's current deployment, from the daemon's state. */
function servedRelease(slug: string): { image: string; sha: string } {
  const id = envRow(slug).currentDeploymentId;
  if (!id) throw new Error(`${slug} has no current deployment`);
  const db = openState(resolvePaths(root).stateDb);
  try {
    const d = db.select().from(deployments).where(eq(deployments.id, id)).get();
    if (!d?.image) throw new Error(`deployment ${id} has no image`);
    return { image: d.image, sha: d.commitSha ?? "" };
  } finally {
    db.$client.close();
  }
}

/** The env's names in the daemon's state (WAL: read beside the running daemon). */
function envRow(slug: string) {
  const db = openState(resolvePaths(root).stateDb);
  try {
    const e = db.select().from(environments).where(eq(environments.slug, slug)).get();
    if (!e) throw new Error(`no env ${slug} in state`);
    return e;
  } finally {
    db.$client.close();
  }
}

function envSql(dbName: string) {
  return pgConnect({ host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: dbName });
}

/** Everything odooops wrote under the root goes; only the test nginx's own files stay (on a real host they are /etc/nginx). */
function wipeRoot(): void {
  // nginx's own log files sit in the same logs dir as odooops' (jobs/, nginx/): those go.
  const nginxLogs = readdirSync(nginx.logDir)
    .filter((f) => f.endsWith(".log"))
    .map((f) => join(nginx.logDir, f));
  const keep = new Set([
    nginx.configFile,
    join(root, "run", "nginx.pid"),
    nginx.sitesDir,
    join(root, "temp"),
    ...nginxLogs,
  ]);
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (keep.has(p)) continue;
      const ownsKept = [...keep].some((k) => k.startsWith(`${p}/`));
      if (ownsKept) walk(p);
      else rmSync(p, { recursive: true, force: true });
    }
  };
  walk(root);
  for (const f of readdirSync(nginx.sitesDir)) rmSync(join(nginx.sitesDir, f), { recursive: true, force: true });
}

describe("the disaster-recovery runbook", () => {
  test("the doc has exactly one runbook block, with the install and systemd lines marked", () => {
    const segments = runbookSegments(runbookBlock(readFileSync(DOC, "utf8")));
    expect(segments.map((s) => s.hostLine?.split(HOST_SPECIFIC)[0]?.trim() ?? null)).toEqual([
      "curl -fsSL https://…/install.sh | sh",
      "systemctl start odooops",
      null,
    ]);
  });

  let keyText = "";

  test("a host with a production and a dev env, their backups and a state backup in S3", async () => {
    const k = await cli("dr", "recovery-key");
    expect(k.code).toBe(0);
    keyText = k.stdout.trim();
    expect(keyText).toStartWith("ODOOOPS-RECOVERY-KEY-1-");
    await startDaemon();
    for (const [tier, name] of Object.entries(envNames)) {
      const out = await api<{ job: { id: string }; env: { slug: string } }>("POST", "/environments", {
        name,
        tier,
        modules: ["base", "web"],
      });
      await waitJob(out.job.id);
      const e = envRow(out.env.slug);
      envs.push({ slug: e.slug, domain: e.domain, dbName: e.dbName, dbUser: e.dbUser });
      const sql = envSql(e.dbName);
      await sql`INSERT INTO res_partner (name) VALUES (${marker})`;
      await sql.close();
      if (tier === "production") {
        await api("PUT", "/projects/default", { repoUrl: `file://${remote}` });
        const d = await api<{ job: { id: string } }>("POST", `/environments/${e.slug}/deployments`, {});
        await waitJob(d.job.id);
        Object.assign(release, servedRelease(e.slug));
      }
      await waitJob((await api<{ id: string }>("POST", `/environments/${e.slug}/backups`)).id);
    }
    expect(release.image).toStartWith(`${namePrefix}-`);
    expect(release.sha).toMatch(/^[0-9a-f]{40}$/);
    const b = await cli("dr", "backup");
    expect(b.code).toBe(0);
    expect(b.stderr).toContain("stored in");
    const v = await cli("audit", "verify");
    expect(v.code).toBe(0);
  }, 600_000);

  test("wiped completely, the host comes back by following the runbook", async () => {
    expect(envs.length).toBe(2);
    await stopDaemon();
    await removeByNamePrefix(namePrefix);
    expect(await dockerClient({ binary: "docker" }).inspectImage(release.image)).toBeNull();
    const admin = pgAdmin({ host: pg.host, port: pg.port, user: pg.user, password: pg.password });
    for (const e of envs) {
      await dropDatabase(admin, e.dbName);
      await dropRole(admin, e.dbUser);
    }
    await admin.close();
    wipeRoot();
    await run(nginxCommands({ binary: nginx.binary, configFile: nginx.configFile }).reload());
    expect(existsSync(join(root, "state"))).toBe(false);
    // Right after the reload an old worker may reset a kept-alive connection: no answer is not 200 either.
    const answer = await fetch(`http://127.0.0.1:${nginx.port}/web/login`, {
      headers: { host: envs[0]!.domain, connection: "close" },
    }).then(
      (r) => r.status,
      (e: unknown) => `no answer: ${String(e)}`,
    );
    expect(answer).not.toBe(200);

    const values: Record<string, string> = {
      "<https://s3.eu-central-003.backblazeb2.com>": defined(bucket.endpoint, "endpoint"),
      "<acme-backups>": bucket.bucket,
      "<odooops>": defined(bucket.prefix, "prefix"),
      "<KEYID>": defined(bucket.accessKeyId, "accessKeyId"),
      "<SECRET>": defined(bucket.secretAccessKey, "secretAccessKey"),
      "<false>": "true",
      "<ODOOOPS-RECOVERY-KEY-1-…>": keyText,
    };
    const keyFile = join(outside, "recovery.key");
    // systemctl start odooops, in CI: the same binary's serve on the root, in the background.
    const pidFile = join(outside, "daemon.pid");
    const startScript = join(outside, "start-daemon.sh");
    writeFileSync(
      startScript,
      [
        `"${BIN}" serve --listen 127.0.0.1:${port} >/dev/null 2>&1 &`,
        `echo $! > "${pidFile}"`,
        "i=0",
        `until [ -f "${join(root, "run/local-token")}" ] && curl -sf http://127.0.0.1:${port}/api/v1/health >/dev/null; do`,
        '  i=$((i+1)); [ "$i" -lt 600 ] || exit 1; sleep 0.1',
        "done",
      ].join("\n"),
    );
    const replaced = runbookSegments(runbookBlock(readFileSync(DOC, "utf8")))
      .map((seg) => {
        if (seg.hostLine === null) return seg.script;
        // The install: the binary is already on PATH.
        if (seg.hostLine.startsWith("curl ")) return `${seg.script}\n: install skipped`;
        if (seg.hostLine.startsWith("systemctl start odooops")) return `${seg.script}\nsh "${startScript}"`;
        throw new Error(`no stand-in for the host-specific line ${seg.hostLine}`);
      })
      .join("\n");
    let script = replaced;
    for (const [placeholder, value] of Object.entries(values)) script = script.replaceAll(placeholder, value);
    expect(script).not.toMatch(/<[^<>\n]+>/);
    writeFileSync(join(outside, "runbook.sh"), script);
    const p = Bun.spawn(["sh", "-e", join(outside, "runbook.sh")], {
      env: { ...processEnv(), RECOVERY_KEY_FILE: keyFile },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, code] = await Promise.all([
      new Response(p.stdout).text(),
      new Response(p.stderr).text(),
      p.exited,
    ]);
    if (existsSync(pidFile)) daemonPid = Number(readFileSync(pidFile, "utf8").trim());
    if (code !== 0) throw new Error(`the runbook failed (${code}):\n--- stdout\n${stdout}\n--- stderr\n${stderr}`);
    expect(stdout).toContain(envs[0]!.slug);
    expect(stderr).toContain("audit chain ok");
    expect(existsSync(keyFile)).toBe(false);

    for (const e of envs) {
      const res = await fetch(`http://127.0.0.1:${nginx.port}/web/login`, {
        headers: { host: e.domain },
        redirect: "manual",
        keepalive: false,
      });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      const sql = envSql(e.dbName);
      const rows = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM res_partner WHERE name = ${marker}`;
      await sql.close();
      expect(rows[0]?.n).toBe(1);
    }
    // Production serves its release again, built from the deployed commit (the image was wiped).
    const prod = envRow(envs[0]!.slug);
    expect(servedRelease(prod.slug)).toEqual(release);
    const docker = dockerClient({ binary: "docker" });
    expect((await docker.inspectImage(release.image))?.Config.Labels?.["odooops.commit"]).toBe(release.sha);
    expect((await docker.inspectContainer(prod.containerName!))?.Config.Image).toBe(release.image);
    const v = await cli("audit", "verify");
    expect(v.code).toBe(0);
  }, 600_000);
});
