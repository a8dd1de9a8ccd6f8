/**
 * Attack (issue #13, M4): the code of an env, or of a branch that brings its own Dockerfile with
 * `USER root`, must not run as root, keep capabilities, regain privileges through setuid
 * binaries or exhaust the host. The env is created and the release started through the real
 * code paths (API + job engine, `startRelease`, `runThrowaway`) on the real dockerd.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { buildReleaseImage } from "../../src/deploy/build";
import { startRelease } from "../../src/deploy/release";
import { environments } from "../../src/env/env.sql";
import { runThrowaway } from "../../src/env/odoo-once";
import { envResources } from "../../src/env/resources";
import { run } from "../../src/exec/run";
import { syncMirror } from "../../src/git/mirror";
import type { JobView } from "../../src/jobs/view";
import { startEnvHost } from "../support/env-host";
import { makeTempDir, removeTempDir } from "../support/tmp";
import { makeRepo } from "../git/repo";

const SLOW = 300_000;
let host: Awaited<ReturnType<typeof startEnvHost>>;
let tmp: string;
const images: string[] = [];

beforeAll(async () => {
  tmp = makeTempDir("odooops-hardening-");
  host = await startEnvHost();
}, 120_000);
afterAll(async () => {
  await host?.stop();
  for (const i of images) await run({ argv: ["docker", "image", "rm", "--force", i] }, { nothrow: true });
  removeTempDir(tmp);
}, 120_000);

interface Inspected {
  Config: { User: string };
  HostConfig: {
    CapDrop: string[] | null;
    CapAdd: string[] | null;
    SecurityOpt: string[] | null;
    PidsLimit: number | null;
    Memory: number;
    NanoCpus: number;
    Privileged: boolean;
  };
}

async function inspect(name: string): Promise<Inspected> {
  return JSON.parse((await run({ argv: ["docker", "container", "inspect", name] })).stdout)[0] as Inspected;
}

/** What the code inside a running container sees about itself, and whether it can write /etc. */
async function attackFromInside(name: string) {
  const probe =
    "id -u; grep -E '^(CapEff|NoNewPrivs):' /proc/self/status; if { echo pwned > /etc/odooops-pwned; } 2>/dev/null; then echo wrote-etc; else echo etc-refused; fi";
  return (await run({ argv: ["docker", "exec", name, "sh", "-c", probe] })).stdout;
}

function expectHardened(i: Inspected, limits: { memoryMb: number; cpus: number }) {
  expect(i.HostConfig.CapDrop).toEqual(["ALL"]);
  expect(i.HostConfig.CapAdd ?? []).toEqual([]);
  expect(i.HostConfig.Privileged).toBe(false);
  expect(i.HostConfig.SecurityOpt).toContain("no-new-privileges");
  expect(i.Config.User).toBe("101:101");
  expect(i.HostConfig.PidsLimit).toBeGreaterThan(0);
  expect(i.HostConfig.Memory).toBe(limits.memoryMb * 1024 * 1024);
  expect(i.HostConfig.NanoCpus).toBe(Math.round(limits.cpus * 1e9));
}

function expectUnprivileged(out: string) {
  const lines = out.trim().split("\n");
  expect(lines[0]).toBe("101");
  expect(out).toMatch(/CapEff:\s+0000000000000000/);
  expect(out).toMatch(/NoNewPrivs:\s+1/);
  expect(out).toContain("etc-refused");
  expect(out).not.toContain("wrote-etc");
}

describe("containers odooops starts are bounded and unprivileged", () => {
  let slug: string;

  test(
    "an env's web container: limits, no capabilities, no-new-privileges, uid 101, and Odoo still serves",
    async () => {
      const res = await host.api.request("/api/v1/environments", {
        method: "POST",
        body: JSON.stringify({ name: "hardened", tier: "dev" }),
      });
      expect(res.status).toBe(202);
      const body = (await res.json()) as { job: JobView; env: { slug: string } };
      slug = body.env.slug;
      const job = await host.waitJob(body.job.id);
      expect(job.error).toBeNull();
      expect(job.status).toBe("succeeded");
      const env = host.deps.db.select().from(environments).where(eq(environments.slug, slug)).get()!;
      expect((await host.viaNginx(env.domain, "/web/health?db_server_status=1")).status).toBe(200);
      expectHardened(await inspect(env.containerName!), { memoryMb: env.memoryMb, cpus: Number(env.cpus) });
      expectUnprivileged(await attackFromInside(env.containerName!));
    },
    SLOW,
  );

  test(
    "a branch whose own Dockerfile says USER root still runs as uid 101 (release and one-shot containers)",
    async () => {
      const env = host.deps.db.select().from(environments).where(eq(environments.slug, slug)).get()!;
      const repo = await makeRepo(join(tmp, "rooted"));
      const sha = await repo.commit({
        Dockerfile:
          "ARG ODOO_IMAGE\nFROM ${ODOO_IMAGE}\nUSER root\nRUN chmod u+s /bin/cp\nCOPY --chown=odoo:odoo addons/ /mnt/extra-addons/\n",
        "addons/acme_root/__manifest__.py": "{'name': 'Acme root', 'version': '1.0', 'depends': ['base']}\n",
      });
      const mirror = await syncMirror({ reposDir: join(tmp, "repos"), url: repo.url });
      const built = await buildReleaseImage({
        docker: host.config.docker,
        namePrefix: host.config.docker.namePrefix,
        env,
        mirror,
        sha,
        workDir: join(tmp, "work"),
      });
      images.push(built.image);
      const configured = JSON.parse((await run({ argv: ["docker", "image", "inspect", built.image] })).stdout)[0] as {
        Config: { User: string };
      };
      expect(configured.Config.User).toBe("root");

      const io = { log: () => {}, signal: new AbortController().signal };
      const started = await startRelease(host.deps, env, 2, built.image, io);
      expectHardened(await inspect(started.container), { memoryMb: env.memoryMb, cpus: Number(env.cpus) });
      expectUnprivileged(await attackFromInside(started.container));
      // The setuid copy the Dockerfile planted does not give root back.
      const suid = await run({
        argv: ["docker", "exec", started.container, "sh", "-c", "cp /dev/null /etc/odooops-suid 2>&1; echo rc=$?"],
      });
      expect(suid.stdout).toMatch(/rc=[1-9]/);
      await run({ argv: ["docker", "rm", "--force", started.container] });

      // A one-shot run (the path of tests, gates, updates) of the same image.
      const lines: string[] = [];
      const once = await runThrowaway(host.deps, env, {
        image: built.image,
        name: `${envResources(env, host.deps).initContainer}-probe`,
        network: envResources(env, host.deps).network,
        entrypoint: "sh",
        args: [
          "-c",
          "id -u; grep -E '^(CapEff|NoNewPrivs):' /proc/self/status; if { echo pwned > /etc/odooops-pwned; } 2>/dev/null; then echo wrote-etc; else echo etc-refused; fi; cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max",
        ],
        log: (l) => lines.push(l),
        signal: io.signal,
        timeoutMs: 60_000,
        tailLines: 20,
      });
      expect(once.exitCode).toBe(0);
      expectUnprivileged(lines.join("\n"));
      expect(lines.at(-1)).toMatch(/^\d+$/);
    },
    SLOW,
  );
});
