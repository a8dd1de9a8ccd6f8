/**
 * Attack (issue #13, M5): a token inside a project's repository URL must never be readable
 * back: not from the API, not from a job's log or error (git echoes the URL it failed to
 * reach), not from the audit log, and not from any file on the host, the SQLite state included.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { auditLogs } from "../../src/audit/audit.sql";
import { projects } from "../../src/env/env.sql";
import { projectRepoUrl, sealLegacyRepoPasswords } from "../../src/env/projects";
import { run } from "../../src/exec/run";
import { mirrorPath, syncMirror } from "../../src/git/mirror";
import type { JobView } from "../../src/jobs/view";
import { startEnvHost } from "../support/env-host";
import { freePort } from "../support/ports";
import { randomSuffix } from "../support/tmp";

const SLOW = 240_000;
const secret = `s3cr3t-unique-${randomSuffix(16)}`;
let host: Awaited<ReturnType<typeof startEnvHost>>;
let port: number;
const seen: string[] = [];

beforeAll(async () => {
  host = await startEnvHost();
  // Nothing listens there: git fails and prints the URL it could not reach.
  port = await freePort();
}, 120_000);
afterAll(async () => {
  await host?.stop();
}, 120_000);

async function call(method: string, path: string, body?: unknown) {
  const res = await host.api.request(`/api/v1${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  seen.push(text);
  return { status: res.status, text, json: () => JSON.parse(text) as unknown };
}

/** Every regular file under `dir`, recursively (no symlinks followed). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return filesUnder(p);
    return e.isFile() ? [p] : [];
  });
}

describe("a token in a repository URL stays sealed", () => {
  test("the API shows the URL with the password masked, and a refused URL's error does not echo it", async () => {
    const url = `https://deployer:${secret}@127.0.0.1:${port}/acme/addons.git`;
    const set = await call("PUT", "/projects/leaky", { repoUrl: url, defaultBranch: "main" });
    expect(set.status).toBe(200);
    expect((set.json() as { repoUrl: string }).repoUrl).toBe(`https://deployer:***@127.0.0.1:${port}/acme/addons.git`);
    const list = await call("GET", "/projects");
    expect(list.status).toBe(200);
    expect(list.text).toContain(`https://deployer:***@127.0.0.1:${port}/acme/addons.git`);

    const bad = await call("PUT", "/projects/other", {
      repoUrl: `https://deployer:${secret}@127.0.0.1:${port}/acme/../etc.git`,
    });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain("invalid repository URL");

    // Still usable by odooops itself: the sealed password comes back for git.
    const row = host.deps.db
      .select()
      .from(projects)
      .all()
      .find((p) => p.name === "leaky")!;
    expect(projectRepoUrl(row, host.deps.box)).toBe(url);
    for (const text of seen) expect(text).not.toContain(secret);
  });

  test(
    "a deploy whose fetch fails: no job error, step or log line shows the token",
    async () => {
      const created = await call("POST", "/environments", { name: "leaky-dev", tier: "dev", project: "leaky" });
      expect(created.status).toBe(202);
      const { job, env } = created.json() as { job: JobView; env: { slug: string } };
      expect((await host.waitJob(job.id)).status).toBe("succeeded");

      const deploy = await call("POST", `/environments/${env.slug}/deployments`, {});
      let jobId: string | null = null;
      if (deploy.status === 202) {
        jobId = (deploy.json() as { job: JobView }).job.id;
        const ended = await host.waitJob(jobId);
        expect(ended.status).toBe("failed");
        await call("GET", `/jobs/${jobId}`);
        const log = await call("GET", `/jobs/${jobId}/log`);
        // Proof that git did fail on that URL and its output reached the log.
        expect(log.text).toContain(`127.0.0.1:${port}`);
      } else {
        expect(deploy.text).toContain(`127.0.0.1:${port}`);
      }
      await call("GET", `/environments/${env.slug}/deployments`);
      await call("GET", "/jobs");
      for (const text of seen) expect(text).not.toContain(secret);
    },
    SLOW,
  );

  test("no audit row and no file on the host (SQLite state, WAL, job logs, git cache) holds the token in clear", async () => {
    const audit = host.deps.db.select().from(auditLogs).all();
    expect(audit.some((a) => a.action === "project.set")).toBe(true);
    expect(JSON.stringify(audit)).not.toContain(secret);
    const files = filesUnder(host.api.root);
    expect(files).toContain(host.api.deps.paths.stateDb);
    const encoded = [secret, Buffer.from(`deployer:${secret}`).toString("base64")];
    const leaks = files.filter((f) => statSync(f).size > 0 && encoded.some((s) => readFileSync(f).includes(s)));
    expect(leaks).toEqual([]);
  });

  test("written by an earlier version: the password moves into the sealed column, the mirror holding it goes", async () => {
    const legacySecret = `legacy-${randomSuffix(16)}`;
    const url = `https://deployer:${legacySecret}@127.0.0.1:${port}/acme/legacy.git`;
    host.deps.db.insert(projects).values({ name: "legacy", repoUrl: url }).run();
    expect(sealLegacyRepoPasswords(host.deps.db, host.deps.box)).toBe(1);
    expect(sealLegacyRepoPasswords(host.deps.db, host.deps.box)).toBe(0);
    const row = host.deps.db
      .select()
      .from(projects)
      .all()
      .find((p) => p.name === "legacy")!;
    expect(row.repoUrl).toBe(`https://deployer@127.0.0.1:${port}/acme/legacy.git`);
    expect(row.repoPasswordEnc).not.toContain(legacySecret);
    expect(projectRepoUrl(row, host.deps.box)).toBe(url);
    const list = await call("GET", "/projects");
    expect(list.text).toContain(`https://deployer:***@127.0.0.1:${port}/acme/legacy.git`);
    expect(list.text).not.toContain(legacySecret);

    // Earlier versions cloned into the hash of the full URL and kept it in the mirror's config.
    const reposDir = host.deps.paths.gitCacheDir;
    const legacy = join(reposDir, `${createHash("sha256").update(url).digest("hex").slice(0, 16)}.git`);
    await run({ argv: ["git", "init", "--quiet", "--bare", legacy] });
    await run({ argv: ["git", "--git-dir", legacy, "config", "remote.origin.url", url] });
    expect(legacy).not.toBe(mirrorPath(reposDir, url));
    await expect(syncMirror({ reposDir, url })).rejects.toThrow(`127.0.0.1:${port}`);
    expect(existsSync(legacy)).toBe(false);
  });
});
