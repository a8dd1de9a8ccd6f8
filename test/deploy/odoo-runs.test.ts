/**
 * One-off Odoo runs on a real host (PostgreSQL, dockerd, nginx, the Odoo stand-in), as real Odoo
 * 17 behaves: the tests gate tests the repository's modules only (a dependency's failing test
 * does not fail it); a cancelled job and a timed-out run remove their container (the prefork
 * master defers SIGTERM, a killed docker client leaves a `--rm` container running); no container
 * of a create → deploy → destroy cycle leaves an anonymous volume behind (the image declares
 * `VOLUME /mnt/extra-addons`).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runTestsGate } from "../../src/deploy/tests-gate";
import { withScratchDatabase } from "../../src/deploy/scratch";
import { runOdooOnce } from "../../src/env/odoo-once";
import { envResources } from "../../src/env/resources";
import { run } from "../../src/exec/run";
import type { JobView } from "../../src/jobs/view";
import { type DeployEnv, shopManifest, startDeployEnv } from "../support/deploy-env";
import { STANDIN_IMAGE } from "../support/env-host";
import { makeTempDir, removeTempDir } from "../support/tmp";
import { until } from "../support/wait";

const SLOW = 240_000;
let t: DeployEnv;
let since = 0;
let gateImage = "";
const contextDir = makeTempDir("odooops-odoo-runs-");

const manifest = (name: string, depends: string[]) =>
  `{'name': '${name}', 'version': '17.0.1.0', 'depends': ${JSON.stringify(depends)}}\n`;
const failingCase = (cls: string) =>
  `from odoo.tests import TransactionCase\n\n\nclass ${cls}(TransactionCase):\n    def test_it(self):\n        self.assertEqual(1, 2)\n`;
const passingCase = (cls: string) =>
  `from odoo.tests import TransactionCase\n\n\nclass ${cls}(TransactionCase):\n    def test_it(self):\n        self.assertEqual(1, 1)\n`;
/** A stand-in script test (a file without test classes) that outlives any test's patience. */
const SLOW_SCRIPT = "import time\ntime.sleep(600)\n";

const policy = "version: 1\nhealth_gates:\n  dev:\n    tests: { required: true }\n";

/** Addons in an image of their own: `vendor_dep` is not the repository's; the `repo_*` depend on it. */
async function buildGateImage(): Promise<string> {
  const files: Record<string, string> = {
    "vendor_dep/__manifest__.py": manifest("Vendor dep", ["base"]),
    "vendor_dep/tests/test_vendor.py": failingCase("TestVendor"),
    "repo_ok/__manifest__.py": manifest("Repo ok", ["vendor_dep"]),
    "repo_ok/tests/test_ok.py": passingCase("TestOk"),
    "repo_bad/__manifest__.py": manifest("Repo bad", ["vendor_dep"]),
    "repo_bad/tests/test_bad.py": failingCase("TestBad"),
    "repo_slow/__manifest__.py": manifest("Repo slow", ["base"]),
    "repo_slow/tests/test_slow.py": SLOW_SCRIPT,
  };
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(contextDir, "addons", path, ".."), { recursive: true });
    writeFileSync(join(contextDir, "addons", path), text);
  }
  const image = `${t.host.config.docker.namePrefix}-gate:1`;
  await run({
    argv: ["docker", "build", "--tag", image, "--file", "-", contextDir],
    stdin: `FROM ${STANDIN_IMAGE}\nCOPY --chown=101:101 addons/ /mnt/extra-addons/\n`,
    timeoutMs: 120_000,
  });
  return image;
}

async function containerIds(filters: string[]): Promise<string[]> {
  const r = await run({ argv: ["docker", "ps", "-a", "--quiet", ...filters.flatMap((f) => ["--filter", f])] });
  return r.stdout.split("\n").filter(Boolean);
}

const exactName = (name: string) => `name=^/?${name}$`;

const events = async (filters: string[], format: string): Promise<string[]> => {
  const until = Math.floor(Date.now() / 1000) + 1;
  const r = await run({
    argv: [
      "docker",
      "events",
      "--since",
      String(since),
      "--until",
      String(until),
      ...filters.flatMap((f) => ["--filter", f]),
      "--format",
      format,
    ],
  });
  return r.stdout.split("\n").filter(Boolean);
};
const createdContainers = async (envId: string) =>
  new Set(await events(["type=container", "event=create", `label=odooops.env=${envId}`], "{{.Actor.ID}}"));
/** Anonymous volumes carry no label: they are found through the containers that mounted them. */
const mountedVolumes = async (containers: Set<string>) =>
  (await events(["type=volume", "event=mount"], '{{.Actor.ID}} {{index .Actor.Attributes "container"}}'))
    .map((l) => l.split(" "))
    .filter(([, container]) => containers.has(container!))
    .map(([volume]) => volume!);

beforeAll(async () => {
  since = Math.floor(Date.now() / 1000) - 1;
  t = await startDeployEnv({
    env: { name: "runs", tier: "dev" },
    files: { "shop_extra/__manifest__.py": shopManifest("17.0.1.0"), ".odooops/policies.yaml": policy },
    configOverrides: {
      deploy: { drainSec: 0, healthTimeoutSec: 60, install: ["shop_extra"], rehearse: false, selfApproval: true },
    },
  });
  gateImage = await buildGateImage();
}, SLOW);

afterAll(async () => {
  const envId = t?.envId;
  await t?.stop();
  // What a failing run leaked: the volumes of this env's containers.
  if (envId)
    for (const v of await mountedVolumes(await createdContainers(envId)).catch(() => []))
      await run({ argv: ["docker", "volume", "rm", v] }, { nothrow: true });
  removeTempDir(contextDir);
}, SLOW);

const io = (lines: string[], signal = new AbortController().signal) => ({ log: (l: string) => lines.push(l), signal });

describe("tests gate", () => {
  test(
    "only the repository's modules are tested: a failing test of a dependency does not fail the gate",
    async () => {
      const lines: string[] = [];
      expect(await runTestsGate(t.host.deps, t.envRow(), gateImage, ["repo_ok"], null, "sel-ok", io(lines))).toBeNull();
      const log = lines.join("\n");
      expect(log).toContain("Starting TestOk.test_it");
      // Installed as a dependency, its tests not run (nor base's).
      expect(log).toContain("Loading module vendor_dep");
      expect(log).not.toContain("TestVendor");
      expect(log).not.toContain("test_standin_bundled");
    },
    SLOW,
  );

  test(
    "a failing test of a repository module fails it, naming the test and the assertion",
    async () => {
      const failure = await runTestsGate(t.host.deps, t.envRow(), gateImage, ["repo_bad"], null, "sel-bad", io([]));
      expect(failure).toContain("addon tests failed (exit 1)");
      expect(failure).toContain("FAIL: TestBad.test_it (odoo.addons.repo_bad.tests.test_bad)");
      expect(failure).toContain("AssertionError: 1 != 2");
      expect(failure).toContain("1 failed, 0 error(s) of");
      expect(failure).not.toContain("TestVendor");
    },
    SLOW,
  );
});

describe("stopping a one-off Odoo run", () => {
  test(
    "a timeout removes the container itself, not only the docker client",
    async () => {
      const name = `${envResources(t.envRow(), t.host.deps).initContainer}-slow`;
      const lines: string[] = [];
      const result = await withScratchDatabase(
        t.host.deps,
        t.envRow(),
        { purpose: "tests", jobId: "slow", log: (l) => lines.push(l) },
        (s) =>
          runOdooOnce(t.host.deps, t.envRow(), {
            image: gateImage,
            name,
            network: s.network,
            confFile: s.confFile,
            dataDir: s.dataDir,
            dbName: s.login.name,
            args: ["-i", "repo_slow", "--test-tags", "/repo_slow"],
            ...io(lines),
            timeoutMs: 8_000,
          }),
      );
      expect(result.exitCode).not.toBe(0);
      expect(result.failure).toContain(`timed out after 8 s; container ${name} removed`);
      expect(await containerIds([exactName(name)])).toEqual([]);
    },
    SLOW,
  );

  test(
    "jobs cancel during the tests gate: the job is cancelled and its Odoo container is gone",
    async () => {
      await t.repo.commit({ "shop_extra/tests/test_slow.py": SLOW_SCRIPT });
      const { job } = await t.queueDeploy();
      const name = `${envResources(t.envRow(), t.host.deps).initContainer}-tests`;
      // The slow test is running once its log line is there.
      await until("the slow test", async () => t.jobLog(job.id).includes("Starting test_slow"), SLOW);
      expect(await containerIds([exactName(name)])).toHaveLength(1);
      expect((await t.api("POST", `/jobs/${job.id}/cancel`)).status).toBe(200);
      const ended: JobView = await t.waitJob(job.id);
      expect(ended.status).toBe("cancelled");
      expect(await containerIds([exactName(name)])).toEqual([]);
    },
    SLOW,
  );

  test(
    "jobs cancel of a run that ignores SIGTERM (as Odoo's prefork master defers it): the container is removed, the job ends",
    async () => {
      // PID 1 of a container ignores SIGTERM without a handler; this one says so explicitly.
      const stubborn = JSON.stringify([
        "python3",
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('stubborn started', flush=True); time.sleep(600)",
      ]);
      await t.repo.commit({
        "shop_extra/tests/test_slow.py": "print('fast now')\n",
        ".odooops/policies.yaml": `version: 1\nhealth_gates:\n  dev:\n    tests: { required: true, command: ${stubborn} }\n`,
      });
      const { job } = await t.queueDeploy();
      const name = `${envResources(t.envRow(), t.host.deps).initContainer}-tests-cmd`;
      await until("the stubborn command", async () => t.jobLog(job.id).includes("stubborn started"), SLOW);
      expect((await t.api("POST", `/jobs/${job.id}/cancel`)).status).toBe(200);
      expect((await t.host.waitJob(job.id, 60_000)).status).toBe("cancelled");
      expect(await containerIds([exactName(name)])).toEqual([]);
    },
    SLOW,
  );
});

describe("anonymous volumes", () => {
  test(
    "create → deploy → destroy leaves none of its containers' volumes behind",
    async () => {
      await t.repo.commit({ ".odooops/policies.yaml": policy, "shop_extra/__manifest__.py": shopManifest("17.0.1.1") });
      const { d, job } = await t.deploy();
      expect(job.error).toBeNull();
      expect(d.status).toBe("success");
      const envId = t.envId;
      // The serving container's own anonymous volume, seen before destroy removes the container.
      const inspected = (
        await run({
          argv: ["docker", "container", "inspect", "--format", "{{json .Mounts}}", t.envRow().containerName!],
        })
      ).stdout;
      const webVolumes = (JSON.parse(inspected) as { Type: string; Name?: string }[])
        .filter((m) => m.Type === "volume")
        .map((m) => m.Name!);
      expect(webVolumes).toHaveLength(1);
      const destroy = (await (await t.api("DELETE", `/environments/${t.slug}`)).json()) as JobView;
      expect((await t.waitJob(destroy.id)).status).toBe("succeeded");

      const created = await createdContainers(envId);
      // init, tests, web containers of the create and both deploys (the cancelled one included).
      expect(created.size).toBeGreaterThanOrEqual(4);
      const mounted = await mountedVolumes(created);
      expect(mounted).toEqual(expect.arrayContaining(webVolumes));
      const left = (await run({ argv: ["docker", "volume", "ls", "--quiet"] })).stdout
        .split("\n")
        .filter((v) => mounted.includes(v));
      expect(left).toEqual([]);
      expect(await containerIds([`label=odooops.env=${envId}`])).toEqual([]);
    },
    SLOW,
  );
});
