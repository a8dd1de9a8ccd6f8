/**
 * An agent renews its env's certificate while the coordinator is down: a stored ACME certificate
 * 5 days from expiry, the coordinator stopped, the agent's daily sweep (ticked by hand) queues
 * `certs.issue` on its own queue, pebble (real HTTP-01 through the agent's nginx) issues a new
 * one, the agent serves it, and the job's report waits in the outbox until the coordinator is
 * back and adopts it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadCertificate } from "../../src/certs/store";
import type { JobView } from "../../src/jobs/view";
import { storeCert } from "../certs/env-fixtures";
import { makeCa } from "../certs/fixtures";
import { type FleetAgent, startFleet } from "../support/fleet";
import { startPebble, type TestPebble } from "../support/pebble";
import { makeTempDir, removeTempDir } from "../support/tmp";

let fleet: Awaited<ReturnType<typeof startFleet>> | undefined;
let agent: FleetAgent;
let pebble: TestPebble | undefined;
const dir = makeTempDir("odooops-agentcerts-");

beforeAll(async () => {
  fleet = await startFleet({
    coordinatorAddress: "127.0.0.1",
    agents: [{ name: "certs-agent", address: "127.0.0.1" }],
    shared: { tiers: { dev: { cpus: 0.5, memoryMb: 512 } } },
    agentConfigFor: async (nginx) => {
      pebble = await startPebble({ httpPort: nginx.port });
      const caFile = join(dir, "pebble-listener-ca.pem");
      writeFileSync(caFile, pebble.listenerCaPem);
      // Dev envs get no certificate at creation: the test stores one near expiry itself.
      return {
        acme: { directoryUrl: pebble.directoryUrl, email: "ops@example.com", caFile, preflight: "off", tiers: [] },
      };
    },
  });
  agent = fleet.agents[0]!;
}, 240_000);

afterAll(async () => {
  await fleet?.cleanup();
  await pebble?.stop();
  removeTempDir(dir);
}, 120_000);

test("the agent renews its env's certificate while the coordinator is down and reports it when it is back", async () => {
  const f = fleet!;
  const created = await f.api<{ env: { id: string; slug: string }; job: JobView }>("POST", "/environments", {
    name: "certs-shop",
    tier: "dev",
    host: "certs-agent",
  });
  expect(created.status).toBe(202);
  const { slug } = created.body.env;
  expect((await f.waitJob(created.body.job.id)).error).toBeNull();
  const { domain } = (await f.api<{ domain: string }>("GET", `/environments/${slug}`)).body;

  const certsDir = agent.daemon.paths.certsDir;
  const old = await storeCert(dir, certsDir, await makeCa(dir), domain, 5, "acme");
  await pebble!.addHost(domain, "127.0.0.1");

  await f.stopCoordinator();
  const local = agent.daemon.local;
  const out = local.renewCerts();
  expect(out.queued.map((q) => [q.env, q.reason])).toEqual([[slug, "expires in 4 day(s) (renewing below 30)"]]);
  const jobId = out.queued[0]!.job!.id;
  for (let i = 0; !["succeeded", "failed", "cancelled"].includes(local.queue.row(jobId).status); i++) {
    if (i > 1200) throw new Error(`local renewal still ${local.queue.row(jobId).status}`);
    await Bun.sleep(100);
  }
  expect(local.queue.row(jobId)).toMatchObject({ status: "succeeded", error: null });
  const renewed = loadCertificate(certsDir, domain);
  expect(renewed?.meta).toMatchObject({ source: "acme", directoryUrl: pebble!.directoryUrl });
  expect(renewed?.info.serial).not.toBe(old.info.serial);
  expect(renewed!.info.notAfter.getTime()).toBeGreaterThan(Date.now() + 60 * 86_400_000);
  // Nobody to tell yet: the report waits on disk.
  expect(local.outbox.pending()).toEqual([jobId]);

  await f.restartCoordinator();
  for (let i = 0; local.outbox.pending().length; i++) {
    if (i > 1200) throw new Error("the report never reached the coordinator");
    await Bun.sleep(100);
  }
  const onCoordinator = await f.api<JobView>("GET", `/jobs/${jobId}`);
  expect(onCoordinator.status).toBe(200);
  expect(onCoordinator.body).toMatchObject({ status: "succeeded", kind: "certs.issue", target: slug });
  expect(onCoordinator.body.steps.map((s) => s.status)).toEqual(["done", "done"]);
}, 300_000);
