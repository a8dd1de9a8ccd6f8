/**
 * kill -9 of the compiled daemon in the middle of a deploy (during the module update, then during
 * the new release's start), restarted on the same root: the deploy resumes and succeeds, exactly one
 * release runs, and a client polling the env through nginx every 50 ms never gets an error meanwhile.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { DeploymentView } from "../../src/deploy/schema";
import type { EnvDetail } from "../../src/env/schema";
import { LABEL_ENV } from "../../src/env/resources";
import { run } from "../../src/exec/run";
import type { JobView } from "../../src/jobs/view";
import { makeRepo, type TestRepo } from "../git/repo";
import { type BinaryHost, startBinaryHost } from "../support/binary-host";
import { shopManifest } from "../support/deploy-env";
import { makeTempDir, removeTempDir } from "../support/tmp";

let h: BinaryHost;
let repo: TestRepo;
let repoDir = "";
let env: EnvDetail;

async function runningWeb(): Promise<string[]> {
  return (
    await run({
      argv: ["docker", "ps", "-q", "--filter", `label=${LABEL_ENV}=${env.id}`, "--filter", "label=odooops.role=web"],
    })
  ).stdout
    .split("\n")
    .filter(Boolean);
}

/** Polls the env through nginx every 50 ms until stopped; counts every answer that is not a healthy 200. */
function startPoller() {
  let stop = false;
  const failures: string[] = [];
  let polls = 0;
  const done = (async () => {
    while (!stop) {
      polls++;
      const r = await fetch(`http://127.0.0.1:${h.nginx.port}/web/health?db_server_status=1`, {
        headers: { host: env.domain },
      }).then(
        async (res) => (res.status === 200 ? null : `${res.status} ${await res.text()}`),
        (e: unknown) => String(e),
      );
      if (r !== null) failures.push(r);
      await Bun.sleep(50);
    }
  })();
  return {
    async finish() {
      stop = true;
      await done;
      return { polls, failures };
    },
  };
}

/** Starts a deploy without waiting, kills the daemon once `step` runs, restarts it and waits for the deploy. */
async function deployKilledAt(sha: string, step: string): Promise<{ job: JobView; killedDuring: string }> {
  const r = await h.cli("deploy", env.name, "--sha", sha);
  expect(r.code).toBe(0);
  const jobId = r.stdout.trim();
  let killedDuring = "";
  for (let i = 0; !killedDuring; i++) {
    const job = await h.cliJson<JobView>("jobs", "show", jobId);
    const running = job.steps.find((s) => s.status === "running");
    const target = job.steps.findIndex((s) => s.name === step);
    if (running && job.steps.indexOf(running) >= target) killedDuring = running.name;
    if (job.status === "succeeded" || job.status === "failed")
      throw new Error(`the deploy ended before ${step} could be interrupted: ${JSON.stringify(job.steps)}`);
    if (i > 2400) throw new Error(`${step} never started: ${JSON.stringify(job.steps)}`);
    if (!killedDuring) await Bun.sleep(25);
  }
  await h.killAndRestart();
  await h.cli("jobs", "wait", jobId);
  return { job: await h.cliJson<JobView>("jobs", "show", jobId), killedDuring };
}

beforeAll(async () => {
  h = await startBinaryHost({
    deploy: { drainSec: 0, healthTimeoutSec: 60, runTests: false, rehearse: false, install: ["shop_extra"] },
  });
  repoDir = makeTempDir("odooops-e2e-deploy-repo-");
  repo = await makeRepo(repoDir);
  const first = await repo.commit({ "shop_extra/__manifest__.py": shopManifest("1.0") });
  expect((await h.cli("project", "set", "default", "--repo", repo.url)).code).toBe(0);
  expect((await h.cli("env", "create", "shop", "--tier", "dev", "--wait")).code).toBe(0);
  env = await h.cliJson<EnvDetail>("env", "get", "shop");
  expect((await h.cli("deploy", "shop", "--sha", first, "--wait")).code).toBe(0);
}, 400_000);

afterAll(async () => {
  await h?.stop();
  if (repoDir) removeTempDir(repoDir);
}, 120_000);

describe("kill -9 of dist/odooops during a deploy", () => {
  for (const [step, previous, version] of [
    ["migrate", "1.0", "1.1"],
    ["start", "1.1", "1.2"],
  ] as const) {
    test(`killed while "${step}" runs: after restart the deploy ends, one release serves, no failed request`, async () => {
      const sha = await repo.commit({ "shop_extra/__manifest__.py": shopManifest(version) });
      const poller = startPoller();
      const { job, killedDuring } = await deployKilledAt(sha, step);
      const { polls, failures } = await poller.finish();
      expect(job.status).toBe("succeeded");
      expect(failures).toEqual([]);
      expect(polls).toBeGreaterThan(20);
      expect(await runningWeb()).toHaveLength(1);
      const list = await h.cliJson<DeploymentView[]>("deploy", "list", "shop");
      const deployment = list.find((d) => d.commit === sha);
      expect(deployment?.status).toBe("success");
      expect(deployment?.modulesUpdated).toEqual([
        { name: "shop_extra", from: `17.0.${previous}`, to: `17.0.${version}` },
      ]);
      expect((await h.cliJson<EnvDetail>("env", "get", "shop")).currentRelease).toBe(deployment!.release);
      const log = await h.cli("jobs", "logs", job.id);
      expect(log.stdout).toContain("requeued to resume");
      expect(killedDuring.length).toBeGreaterThan(0);
    }, 400_000);
  }
});
