/**
 * Every doctor hint that is a command, run exactly as doctor printed it: the test creates the
 * failing condition with real services it owns (a temp root, its own nginx, a private registry,
 * docker), runs `odooops doctor --json` as a process, runs the check's `command` argv (no shell),
 * and runs doctor again: that check passes. `odooops` in a hint is this worktree's CLI, through a
 * shim on PATH. The hints that only a Debian host's own services can show (pg_ctlcluster, init's
 * PostgreSQL and nginx wiring) are run in test/install/first-env.test.ts, inside a container.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeByLabel, testLabel } from "../support/docker";
import { startNginx, type TestNginx } from "../support/nginx";
import { freePort } from "../support/ports";
import { startRegistry, type TestRegistry } from "../support/registry";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";

// Each doctor run takes seconds (it starts containers); on a loaded 2-core machine, minutes.
const SLOW = 600_000;
const STANDIN_IMAGE = "odooops-test/odoo:17.0";
const MAIN = join(import.meta.dir, "../../src/main.ts");
const label = testLabel();
const dirs: string[] = [];
const stops: (() => Promise<void>)[] = [];
let shimDir: string;

interface Report {
  ok: boolean;
  checks: { id: string; status: string; message: string; hint?: string; command?: string[] }[];
}

beforeAll(() => {
  shimDir = tempDir("odooops-hints-bin-");
  // `odooops` as a hint names it: this worktree's CLI under the bun running the tests.
  writeFileSync(join(shimDir, "odooops"), `#!/bin/sh\nexec ${process.execPath} ${MAIN} "$@"\n`, { mode: 0o755 });
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await removeByLabel(`${label.key}=${label.value}`);
  for (const d of dirs) removeTempDir(d);
}, 120_000);

function tempDir(prefix: string): string {
  const d = makeTempDir(prefix);
  dirs.push(d);
  return d;
}

function env(): Record<string, string> {
  const e: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("ODOOOPS_")) e[k] = v;
  return { ...e, PATH: `${shimDir}:${process.env.PATH ?? ""}` };
}

async function exec(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn(argv, { env: env(), stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { code, stdout, stderr };
}

async function doctor(root: string): Promise<Report> {
  const r = await exec(["odooops", "--root", root, "doctor", "--json"]);
  try {
    return JSON.parse(r.stdout) as Report;
  } catch {
    throw new Error(`doctor printed no report (exit ${r.code}): ${r.stderr.slice(-2000)}`);
  }
}

function check(report: Report, id: string) {
  const c = report.checks.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id}`);
  return c;
}

/** A root with a config file; the stand-in image and a name prefix of this test's own. */
function rootWith(config: Record<string, unknown>, root = tempDir("odooops-hints-")): string {
  mkdirSync(join(root, "etc"), { recursive: true });
  writeFileSync(
    join(root, "etc", "config.yaml"),
    JSON.stringify({ docker: { namePrefix: `h${randomSuffix(6)}` }, odoo: { image: STANDIN_IMAGE }, ...config }),
  );
  return root;
}

describe("doctor's command hints, each run as printed", () => {
  test(
    "daemon not running, state database absent: `odooops --root R serve` (systemd is not PID 1 here) fixes both",
    async () => {
      const listen = `127.0.0.1:${await freePort()}`;
      const root = rootWith({ listen });
      const before = await doctor(root);
      const daemon = check(before, "daemon");
      const state = check(before, "state");
      expect(daemon.status).toBe("fail");
      expect(state.status).toBe("warn");
      expect(daemon.command).toEqual(["odooops", "--root", root, "serve"]);
      expect(state.command).toEqual(daemon.command!);
      expect(daemon.hint).toStartWith(`odooops --root ${root} serve (it runs in the foreground`);
      // The hint's command stays in the foreground: it is started as a process and stopped after.
      const serve = Bun.spawn(daemon.command!, { env: env(), stdout: "ignore", stderr: "pipe", stdin: "ignore" });
      stops.push(async () => {
        serve.kill("SIGTERM");
        await serve.exited;
      });
      // Until it answers (a cheap request; doctor itself runs once it does).
      const up = () =>
        fetch(`http://${listen}/api/v1/health`).then(
          (r) => r.ok,
          () => false,
        );
      for (let i = 0; i < 600 && serve.exitCode === null && !(await up()); i++) await Bun.sleep(200);
      if (serve.exitCode !== null) throw new Error(`odooops serve exited: ${await new Response(serve.stderr).text()}`);
      const after = await doctor(root);
      expect(check(after, "daemon")).toMatchObject({ status: "pass" });
      expect(check(after, "state")).toMatchObject({ status: "pass" });
    },
    SLOW,
  );

  test(
    "nginx stopped: `nginx -c <its config>` starts it; doctor then passes (reload included)",
    async () => {
      const nginx: TestNginx = await startNginx();
      stops.push(() => nginx.stop());
      // The harness's dir is the root: its main config includes <root>/nginx/sites/*.conf.
      const root = rootWith(
        { nginx: { binary: nginx.binary, configFile: nginx.configFile, httpPort: nginx.port } },
        nginx.dir,
      );
      expect(check(await doctor(root), "nginx").status).toBe("pass");
      const pidFile = join(nginx.dir, "run", "nginx.pid");
      const quit = await exec([nginx.binary, "-s", "quit", "-c", nginx.configFile]);
      expect(quit.code).toBe(0);
      for (let i = 0; i < 500 && existsSync(pidFile); i++) await Bun.sleep(20);
      const before = check(await doctor(root), "nginx");
      expect(before).toMatchObject({ status: "fail", command: [nginx.binary, "-c", nginx.configFile] });
      expect(before.hint).toBe(`${nginx.binary} -c ${nginx.configFile}`);
      const r = await exec(before.command!);
      expect(r.code).toBe(0);
      expect(check(await doctor(root), "nginx")).toMatchObject({ status: "pass" });
    },
    SLOW,
  );

  test(
    "the configured image is not present locally: `docker pull <image>` fixes image and docker-limits",
    async () => {
      const registry: TestRegistry = await startRegistry();
      stops.push(() => registry.stop());
      const image = `${registry.address}/odooops-hints/odoo:${randomSuffix()}`;
      // The image exists in the registry only, as a fresh host sees a published image.
      stops.push(async () => {
        await exec(["docker", "image", "rm", image]);
      });
      for (const argv of [
        ["docker", "tag", STANDIN_IMAGE, image],
        ["docker", "push", image],
        ["docker", "image", "rm", image],
      ]) {
        const r = await exec(argv);
        if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
      }
      const root = rootWith({ odoo: { image } });
      const before = await doctor(root);
      expect(check(before, "image")).toMatchObject({ status: "warn", command: ["docker", "pull", image] });
      expect(check(before, "image").hint).toBe(`docker pull ${image} (otherwise the first env create pulls it)`);
      expect(check(before, "docker-limits")).toMatchObject({ status: "warn", command: ["docker", "pull", image] });
      const r = await exec(check(before, "image").command!);
      expect(r.code).toBe(0);
      const after = await doctor(root);
      expect(check(after, "image").status).toBe("pass");
      expect(check(after, "docker-limits").status).toBe("pass");
    },
    SLOW,
  );
});
