/**
 * The compiled binary end to end on a temp root: `dist/odooops serve` as the daemon, the same
 * binary as CLI through the local credential (no login), real PostgreSQL/nginx/docker and the
 * stand-in. Includes kill -9 of the daemon in the middle of `env create`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { EnvDetail } from "../../src/env/schema";
import { LABEL_ENV } from "../../src/env/resources";
import { run } from "../../src/exec/run";
import type { JobView } from "../../src/jobs/view";
import { type BinaryHost, startBinaryHost } from "../support/binary-host";

let h: BinaryHost;
const envIds: string[] = [];

beforeAll(async () => {
  h = await startBinaryHost();
}, 120_000);

afterAll(async () => {
  await h?.stop();
}, 120_000);

async function envGet(name: string): Promise<EnvDetail> {
  const r = await h.cli("env", "get", name, "--json");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as EnvDetail;
}

async function webContainers(envId: string): Promise<string[]> {
  return (
    await run({
      argv: ["docker", "ps", "-aq", "--filter", `label=${LABEL_ENV}=${envId}`, "--filter", "label=odooops.role=web"],
    })
  ).stdout
    .split("\n")
    .filter(Boolean);
}

describe("dist/odooops end to end", () => {
  test("env create --wait renders each step with its duration; the env answers through nginx", async () => {
    const r = await h.cli("env", "create", "shop", "--tier", "dev", "--wait");
    expect(r.stderr).toContain("✓ Provisioning database... (");
    expect(r.stderr).toContain("✓ Waiting for Odoo to answer... (");
    expect(r.code).toBe(0);
    const env = await envGet("shop");
    envIds.push(env.id);
    expect(env.status).toBe("active");
    const health = await fetch(`http://127.0.0.1:${h.nginx.port}/web/health?db_server_status=1`, {
      headers: { host: env.domain },
    });
    expect(health.status).toBe(200);
    const list = JSON.parse((await h.cli("env", "list", "--json")).stdout) as { name: string }[];
    expect(list.map((e) => e.name)).toEqual(["shop"]);
  }, 240_000);

  test("kill -9 of the daemon during env create: after restart the job finishes, one container, env active", async () => {
    const r = await h.cli("env", "create", "crashy", "--tier", "dev");
    expect(r.code).toBe(0);
    const jobId = r.stdout.trim();
    for (let i = 0; ; i++) {
      const job = JSON.parse((await h.cli("jobs", "show", jobId, "--json")).stdout) as JobView;
      if (job.steps.find((s) => s.name === "initdb")?.status === "running") break;
      if (i > 600) throw new Error(`initdb never started: ${JSON.stringify(job)}`);
      await Bun.sleep(50);
    }
    await h.killAndRestart();
    const waited = await h.cli("jobs", "wait", jobId);
    expect(waited.code).toBe(0);
    const job = JSON.parse((await h.cli("jobs", "show", jobId, "--json")).stdout) as JobView;
    expect(job.status).toBe("succeeded");
    const env = await envGet("crashy");
    envIds.push(env.id);
    expect(env.status).toBe("active");
    expect(await webContainers(env.id)).toHaveLength(1);
    const log = await h.cli("jobs", "logs", jobId);
    expect(log.stdout).toContain("requeued to resume");
  }, 300_000);

  test("destroy --yes --wait for both; nothing labelled for them is left", async () => {
    for (const name of ["shop", "crashy"]) {
      const r = await h.cli("env", "destroy", name, "--yes", "--wait");
      expect(r.code).toBe(0);
    }
    for (const id of envIds) {
      expect((await run({ argv: ["docker", "ps", "-aq", "--filter", `label=${LABEL_ENV}=${id}`] })).stdout.trim()).toBe(
        "",
      );
      expect(
        (await run({ argv: ["docker", "network", "ls", "-q", "--filter", `label=${LABEL_ENV}=${id}`] })).stdout.trim(),
      ).toBe("");
    }
    expect((await h.cli("env", "list", "--json")).stdout.trim()).toBe("[]");
  }, 240_000);
});
