/**
 * `health check` on a real host (PostgreSQL, docker, nginx, the Odoo stand-in): an env that
 * serves but has no backup while its tier is scheduled is red (exit 1); after a backup it is
 * ok (exit 0); with its container stopped behind nginx's back it is red again with nginx's answer.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { run } from "../../src/exec/run";
import type { JobView } from "../../src/jobs/view";
import { runCliOn } from "../support/cli";
import { startEnvHost } from "../support/env-host";
import { randomSuffix } from "../support/tmp";

let host: Awaited<ReturnType<typeof startEnvHost>>;
const slug = `hc-${randomSuffix(6)}`;

beforeAll(async () => {
  // dev backed up hourly here: a dev env without a backup is then overdue.
  host = await startEnvHost({ configOverrides: { backups: { schedules: { dev: "0 * * * *" } } } });
}, 120_000);

afterAll(async () => {
  if (host) {
    await host.destroyEnv(slug);
    await host.stop();
  }
}, 180_000);

const cli = (argv: string[]) => runCliOn(host.api, argv);
const container = () => host.liveEnv(slug)!.containerName!;

describe("health check --all", () => {
  test("serving but no backup on an hourly tier: red, exit 1, one line per env", async () => {
    const res = await host.api.request("/api/v1/environments", {
      method: "POST",
      body: JSON.stringify({ name: slug, tier: "dev", modules: ["base", "web"] }),
    });
    expect(res.status).toBe(202);
    expect((await host.waitJob(((await res.json()) as { job: JobView }).job.id)).status).toBe("succeeded");
    const r = await cli(["health", "check", "--all"]);
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split("\n");
    const line = lines.find((l) => l.includes(slug))!;
    expect(line).toMatch(
      new RegExp(`^RED  ${slug}  http: 200 pass  backup: none \\[RED\\]  cert: n/a  deploy: never  dr test: never$`),
    );
    expect(lines.some((l) => /^(OK|WARN|RED)\s+disk data /.test(l))).toBe(true);
    expect(r.stderr).toContain(`red: ${slug}`);
  }, 300_000);

  test("after a backup: ok, exit 0 (json: the same verdicts)", async () => {
    const b = await host.api.request(`/api/v1/environments/${slug}/backups`, { method: "POST" });
    expect((await host.waitJob(((await b.json()) as JobView).id)).status).toBe("succeeded");
    const r = await cli(["--json", "health", "check", slug]);
    const out = JSON.parse(r.stdout) as {
      envs: { env: string; level: string; backup: { level: string; text: string } }[];
    };
    expect(out.envs).toHaveLength(1);
    expect(out.envs[0]).toMatchObject({ env: slug, level: "ok", backup: { level: "ok" } });
    expect(out.envs[0].backup.text).toMatch(/^\d+m ago$/);
    // Disk is the only thing that can still be red here (a full disk on this machine), and it says so.
    expect(r.code).toBe(JSON.parse(r.stdout).level === "red" ? 1 : 0);
  }, 300_000);

  test("its container stopped behind nginx: red with what nginx answered", async () => {
    await run({ argv: ["docker", "stop", "-t", "1", container()] });
    try {
      const r = await cli(["--json", "health", "check", "--all"]);
      expect(r.code).toBe(1);
      const env = (
        JSON.parse(r.stdout) as { envs: { env: string; level: string; http: { level: string; text: string } }[] }
      ).envs.find((e) => e.env === slug)!;
      expect(env.level).toBe("red");
      expect(env.http.text).toMatch(/: HTTP 50[24] 50[24] Bad Gateway|: HTTP 504 504 Gateway/);
    } finally {
      await run({ argv: ["docker", "start", container()] });
    }
  }, 120_000);

  test("bad input: neither or both of ENV and --all, an unknown env", async () => {
    expect((await cli(["health", "check"])).stderr).toContain("give an environment or --all");
    expect((await cli(["health", "check", slug, "--all"])).code).toBe(2);
    const unknown = await cli(["health", "check", "no-such-env"]);
    expect(unknown.code).toBe(4);
  });
});
