/**
 * GitHub webhooks against `dist/odooops serve` on a temp root, with a real PostgreSQL, nginx,
 * dockerd and the Odoo stand-in (test/support), and GitHub played by the local stand-in
 * (test/support/github.ts) on 127.0.0.1:
 *
 * 1. signed push → deploy job queued: latency of `POST /api/v1/webhooks/github` (send → 202 body
 *    read; the job row is committed before the answer), over BENCH_WEBHOOKS deliveries;
 * 2. push → commit status `pending` received by the GitHub stand-in (send → arrival);
 * 3. PR opened → preview `pr-<n>` created, its head commit deployed and healthy through nginx.
 *
 * Queued deploys of (1) and (2) are cancelled right after they are measured, so the host stays
 * quiet. Everything is removed at the end, also on failure or Ctrl-C.
 */
import { Database } from "bun:sqlite";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../src/exec/run";
import type { EnvDetail } from "../src/env/schema";
import { signBody } from "../src/github/signature";
import type { JobView } from "../src/jobs/view";
import { makeRepo } from "../test/git/repo";
import { hostConfig, randomPortBase, writeHostConfig } from "../test/support/host-config";
import { removeByLabel, removeByNamePrefix } from "../test/support/docker";
import { startFakeGithub, type FakeGithub } from "../test/support/github";
import { startNginx, type TestNginx } from "../test/support/nginx";
import { startPostgres, type TestPostgres } from "../test/support/postgres";
import { makeTempDir, removeTempDir } from "../test/support/tmp";
import { BINARY, requireBinary, startDaemon, type Daemon } from "./lib/daemon";
import { cleanupOnExit, waitFor } from "./lib/proc";
import { ms, percentile, sorted } from "./lib/stats";
import { printTable, verdict } from "./lib/table";

const ROUNDS = Number(process.env.BENCH_WEBHOOKS ?? 200);
const WARMUP = 10;
const STATUS_ROUNDS = Number(process.env.BENCH_STATUS_ROUNDS ?? 10);
const SECRET = `bench-webhook-secret-${crypto.randomUUID()}`;
const REPO = "Codertocat/Hello-World";
const PUBLIC_URL = "https://ops.bench.invalid";
const POLICY = "branch_mappings:\n  - { pattern: bench, tier: dev, env: bench, auto_deploy: true }\n";

requireBinary();
const prefix = `b${crypto.randomUUID().slice(0, 8)}`;
const tmp = makeTempDir("odooops-bench-webhook-");
let pg: TestPostgres | null = null;
let nginx: TestNginx | null = null;
let daemon: Daemon | null = null;
let github: FakeGithub | null = null;
const envIds: string[] = [];

const stop = cleanupOnExit(async () => {
  await daemon?.stop();
  daemon = null;
  for (const id of envIds) await removeByLabel(`odooops.env=${id}`);
  await removeByNamePrefix(prefix);
  await github?.stop();
  await nginx?.stop();
  await pg?.stop();
  removeTempDir(tmp);
});

function api(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${daemon!.token}`);
  if (init.body) headers.set("content-type", "application/json");
  return fetch(`${daemon!.url}/api/v1${path}`, { ...init, headers, signal: AbortSignal.timeout(30_000) });
}

async function cli(root: string, ...argv: string[]): Promise<string> {
  const r = await run(
    { argv: [BINARY, ...argv], env: { ODOOOPS_ROOT: root, HOME: root, CI: "true" }, timeoutMs: 300_000 },
    { nothrow: true },
  );
  if (r.exitCode !== 0) throw new Error(`odooops ${argv.join(" ")} exited ${r.exitCode}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

function delivery(event: string, payload: unknown): { headers: Record<string, string>; body: Uint8Array } {
  const body = new TextEncoder().encode(JSON.stringify(payload));
  return {
    body,
    headers: {
      "content-type": "application/json",
      "x-github-event": event,
      "x-github-delivery": crypto.randomUUID(),
      "x-hub-signature-256": signBody(SECRET, body),
      "user-agent": "GitHub-Hookshot/bench",
    },
  };
}

const repository = { full_name: REPO, clone_url: `https://github.com/${REPO}.git` };

async function deliver(
  event: string,
  payload: unknown,
): Promise<{ ms: number; at: number; body: { job?: string; createJob?: string; env?: string; result: string } }> {
  const { headers, body } = delivery(event, payload);
  const at = Date.now();
  const t0 = performance.now();
  const res = await fetch(`${daemon!.url}/api/v1/webhooks/github?project=default`, {
    method: "POST",
    headers,
    body,
    signal: AbortSignal.timeout(30_000),
  });
  const parsed = (await res.json()) as { job?: string; createJob?: string; env?: string; result: string };
  const elapsed = performance.now() - t0;
  if (res.status !== 202) throw new Error(`webhook answered ${res.status}: ${JSON.stringify(parsed)}`);
  return { ms: elapsed, at, body: parsed };
}

async function cancel(jobId: string): Promise<void> {
  const res = await api(`/jobs/${jobId}/cancel`, { method: "POST" });
  await res.arrayBuffer();
}

async function waitJob(jobId: string): Promise<JobView> {
  return waitFor(`job ${jobId}`, 300_000, async () => {
    const job = (await (await api(`/jobs/${jobId}`)).json()) as JobView;
    return ["succeeded", "failed", "cancelled"].includes(job.status) ? job : null;
  });
}

try {
  pg = await startPostgres({ dockerAccess: false });
  nginx = await startNginx();
  github = await startFakeGithub();
  const root = nginx.dir;
  const gh = github.config(join(tmp, "gh"));
  writeHostConfig(
    root,
    hostConfig(
      { pg, nginx, baseDomain: "bench.localhost", namePrefix: prefix, portsFrom: randomPortBase() },
      {
        publicUrl: PUBLIC_URL,
        deploy: { drainSec: 0, runTests: false, rehearse: false, healthTimeoutSec: 60 },
        github: { ...gh.github, retryBaseMs: 100 },
      },
    ),
  );
  daemon = await startDaemon(root);
  const repo = await makeRepo(join(tmp, "repo"));
  const sha = await repo.commit({ ".odooops/policies.yaml": POLICY, "README.md": "bench\n" });
  writeFileSync(join(tmp, "secret"), `${SECRET}\n`, { mode: 0o600 });
  await cli(root, "project", "set", "default", "--repo", repo.url, "--webhook-secret-file", join(tmp, "secret"));
  // The mapping as a deploy would have recorded it from the repository (the webhook reads state, never git).
  const state = new Database(join(root, "state", "odooops.db"));
  state.exec("PRAGMA busy_timeout = 5000");
  const project = state.query("SELECT id FROM projects WHERE name = 'default'").get() as { id: string };
  state
    .query(
      "INSERT INTO policies (id, project_id, source, commit_sha, document, created_at) VALUES (?, ?, 'repo', ?, ?, ?)",
    )
    .run(Bun.randomUUIDv7(), project.id, sha, POLICY, new Date().toISOString());
  state.close();
  await cli(root, "env", "create", "bench", "--tier", "dev", "--wait");
  envIds.push((JSON.parse(await cli(root, "env", "get", "bench", "--json")) as EnvDetail).id);

  const push = {
    ref: "refs/heads/bench",
    before: "0".repeat(40),
    after: sha,
    created: false,
    deleted: false,
    repository,
  };
  // 1. webhook → job queued.
  const latencies: number[] = [];
  for (let i = 0; i < WARMUP + ROUNDS; i++) {
    const out = await deliver("push", push);
    if (i >= WARMUP) latencies.push(out.ms);
    await cancel(out.body.job!);
  }
  const lat = sorted(latencies);
  const p95 = percentile(lat, 95);

  // 2. push → pending status at GitHub.
  await Bun.sleep(1000);
  const pendingMs: number[] = [];
  for (let i = 0; i < STATUS_ROUNDS; i++) {
    const out = await deliver("push", push);
    const url = `${PUBLIC_URL}/api/v1/jobs/${out.body.job}/log`;
    const call = await waitFor(
      "the pending status",
      10_000,
      async () => github!.calls.find((c) => c.body?.state === "pending" && c.body?.target_url === url) ?? null,
    );
    pendingMs.push(call.at - out.at);
    await cancel(out.body.job!);
  }
  const pending = sorted(pendingMs);

  // 3. PR opened → preview healthy through nginx, with the head commit deployed.
  const opened = {
    action: "opened",
    number: 1,
    pull_request: { number: 1, state: "open", head: { sha, ref: "feature", repo: { full_name: REPO } } },
    repository,
  };
  const t0 = performance.now();
  const pr = await deliver("pull_request", opened);
  const create = await waitJob(pr.body.createJob!);
  const createdMs = performance.now() - t0;
  envIds.push((JSON.parse(await cli(root, "env", "get", "pr-1", "--json")) as EnvDetail).id);
  const deploy = await waitJob(pr.body.job!);
  if (create.status !== "succeeded" || deploy.status !== "succeeded")
    throw new Error(`preview jobs: create ${create.status}, deploy ${deploy.status} ${deploy.error}`);
  const env = JSON.parse(await cli(root, "env", "get", "pr-1", "--json")) as EnvDetail;
  await waitFor("the preview through nginx", 60_000, async () => {
    const res = await fetch(`http://127.0.0.1:${nginx!.port}/web/health`, {
      headers: { host: env.domain },
      keepalive: false,
    });
    return res.status === 200 ? true : null;
  });
  const healthyMs = performance.now() - t0;
  await waitFor("the preview comment", 10_000, async () => (github!.comments.size > 0 ? true : null));
  const closed = await deliver("pull_request", {
    ...opened,
    action: "closed",
    pull_request: { ...opened.pull_request, state: "closed" },
  });
  const destroyed = await waitJob(closed.body.job!);
  const goneMs = performance.now() - t0 - healthyMs;

  const load = (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");
  console.log(`odooops webhook benchmark · ${ROUNDS} deliveries after ${WARMUP} warm-ups · load ${load}`);
  printTable(
    "Signed push → deploy job queued (send → 202 read)",
    ["p50", "p95", "max", "target p95", ""],
    [[ms(percentile(lat, 50)), ms(p95), ms(lat[lat.length - 1]), "< 100 ms", verdict(p95 < 100)]],
  );
  printTable(
    "Push → commit status pending received by the GitHub stand-in",
    ["rounds", "p50", "max", "target", ""],
    [
      [
        String(STATUS_ROUNDS),
        ms(percentile(pending, 50)),
        ms(pending[pending.length - 1]),
        "< 1 s",
        verdict(pending[pending.length - 1] < 1000),
      ],
    ],
  );
  printTable(
    "PR opened → preview pr-1 (create, then the head commit deployed) healthy through nginx",
    ["created", "deployed + healthy", "create steps", "deploy steps", "closed → destroyed"],
    [
      [
        ms(createdMs, 0),
        ms(healthyMs, 0),
        ms(
          create.steps.reduce((a, s) => a + (s.durationMs ?? 0), 0),
          0,
        ),
        ms(
          deploy.steps.reduce((a, s) => a + (s.durationMs ?? 0), 0),
          0,
        ),
        `${ms(goneMs, 0)} (${destroyed.status})`,
      ],
    ],
  );
} finally {
  await stop();
}
