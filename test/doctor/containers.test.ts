/**
 * doctor's real probes of what env create needs: the configured image runs with the tier limits
 * (docker refuses more CPUs than the host has), a container on a fresh bridge network reaches
 * PostgreSQL (a real cluster listening on docker0; a port nobody listens on fails with a hint),
 * and nginx's reload works (a stopped master fails; running the hint fixes it). Every probe's
 * containers and networks are labelled and gone afterwards.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolvePaths } from "../../src/config/paths";
import { ConfigSchema } from "../../src/config/schema";
import { runCheck } from "../../src/doctor/check";
import {
  dockerLimitsCheck,
  DOCTOR_LABEL,
  largestLimits,
  limitsProbe,
  pgContainerCheck,
  pgReachProbe,
  probeNetwork,
} from "../../src/doctor/containers";
import { makeContext } from "../../src/doctor/context";
import { run } from "../../src/exec/run";
import { freePort } from "../support/ports";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";

const STANDIN_IMAGE = "odooops-test/odoo:17.0";
const prefix = `dr${randomSuffix(6)
  .toLowerCase()
  .replace(/[^a-z0-9]/g, "x")}`;
let pg: TestPostgres;
const root = makeTempDir("odooops-doctor-ct-");

beforeAll(async () => {
  pg = await startPostgres();
}, 120_000);

afterAll(async () => {
  await pg?.stop();
  removeTempDir(root);
}, 120_000);

function config(over: Record<string, unknown> = {}) {
  return ConfigSchema.parse({ odoo: { image: STANDIN_IMAGE }, docker: { namePrefix: prefix }, ...over });
}

function ctx(cfg: ReturnType<typeof config>, host = { cpus: 2, memoryMb: 4096 }) {
  return makeContext({ paths: resolvePaths(root), config: cfg, host, systemd: false });
}

async function leftovers(): Promise<string> {
  const c = await run({ argv: ["docker", "ps", "-a", "--quiet", "--filter", `label=${DOCTOR_LABEL}`] });
  const n = await run({ argv: ["docker", "network", "ls", "--quiet", "--filter", `name=${prefix}-doctor-`] });
  return (c.stdout + n.stdout).trim();
}

describe("argv", () => {
  test("the limits probe: the image, the clamped limits, a no-op entrypoint, labelled, removed", () => {
    const cfg = config();
    expect(largestLimits(cfg, { cpus: 2, memoryMb: 1500 })).toEqual({ cpus: 2, memoryMb: 1500 });
    const argv = limitsProbe(cfg, { cpus: 2, memoryMb: 1500 }, "ab12").argv;
    expect(argv.slice(0, 3)).toEqual(["docker", "run", "--rm"]);
    expect(argv).toContain(`${DOCTOR_LABEL}=ab12`);
    expect(argv.join(" ")).toContain("--cpus 2 --memory 1500m");
    expect(argv.at(-1)).toBe(STANDIN_IMAGE);
    expect(argv[argv.indexOf("--entrypoint") + 1]).toBe("true");
  });

  test("the PostgreSQL probe: pg_isready on the env-like network, host-gateway for host.docker.internal", () => {
    const cfg = config({ postgres: { port: 5433 } });
    const net = probeNetwork(cfg, "ab12");
    expect(net).toBe(`${prefix}-doctor-ab12`);
    const argv = pgReachProbe(cfg, net, "ab12").argv;
    expect(argv).toContain("host.docker.internal:host-gateway");
    expect(argv[argv.indexOf("--network") + 1]).toBe(net);
    expect(argv[argv.indexOf("--entrypoint") + 1]).toBe("pg_isready");
    expect(argv.slice(-7)).toEqual([STANDIN_IMAGE, "-h", "host.docker.internal", "-p", "5433", "-t", "5"]);
    const direct = pgReachProbe(config({ postgres: { containerHost: "10.1.2.3" } }), net, "x").argv;
    expect(direct).not.toContain("host.docker.internal:host-gateway");
  });
});

describe("real probes", () => {
  test("docker-limits: passes with limits clamped to this host, fails when the host is overstated", async () => {
    const ok = await runCheck(dockerLimitsCheck, ctx(config()));
    expect(ok.status).toBe("pass");
    expect(ok.message).toBe(`${STANDIN_IMAGE} with --cpus 2 --memory 4096m starts`);
    // A host said to have 64 CPUs: nothing is clamped and docker refuses --cpus 4 on this 2-CPU machine.
    const bad = await runCheck(dockerLimitsCheck, ctx(config(), { cpus: 64, memoryMb: 4096 }));
    expect(bad.status).toBe("fail");
    expect(bad.message).toContain("docker cannot run");
    expect(bad.message).toMatch(/range of cpus/i);
    const missing = await runCheck(dockerLimitsCheck, ctx(config({ odoo: { image: "odooops-test/nope:0" } })));
    expect(missing).toMatchObject({ status: "warn", hint: "docker pull odooops-test/nope:0" });
    expect(await leftovers()).toBe("");
  }, 120_000);

  test("pg-container: a container on a fresh network reaches the cluster; one it cannot reach fails with a hint", async () => {
    if (!pg.dockerHost) throw new Error("no docker0 on this machine");
    const pgConf = { host: pg.host, port: pg.port, user: pg.user, password: pg.password, hbaFile: "" };
    const ok = await runCheck(pgContainerCheck, ctx(config({ postgres: pgConf })));
    expect(ok.status).toBe("pass");
    expect(ok.message).toBe(
      `a container on a fresh bridge network reaches PostgreSQL at host.docker.internal:${pg.port}`,
    );

    // The admin reaches it over 127.0.0.1, but containers are told an address nothing listens on.
    const bad = await runCheck(pgContainerCheck, ctx(config({ postgres: { ...pgConf, containerHost: "127.0.0.1" } })));
    expect(bad.status).toBe("fail");
    expect(bad.message).toContain(`cannot reach PostgreSQL at 127.0.0.1:${pg.port}: `);
    expect(bad.hint).toContain("listen_addresses");
    const down = await runCheck(pgContainerCheck, ctx(config({ postgres: { ...pgConf, port: await freePort() } })));
    expect(down).toMatchObject({ status: "skip", message: "PostgreSQL not reachable (see the postgres check)" });
    expect(await leftovers()).toBe("");
  }, 120_000);
});
