/**
 * The doctor's checks one by one, each against something real on this machine (files, sockets,
 * docker, nginx, openssl-made certificates); the all-services case is in doctor.test.ts.
 */
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { resolvePaths } from "../../src/config/paths";
import { ConfigSchema } from "../../src/config/schema";
import { saveCertificate } from "../../src/certs";
import { type Check, fail, fix, renderReport, runCheck, shellLine, summarize, warn } from "../../src/doctor/check";
import {
  dockerRootDir,
  dockerServerVersion,
  dockerdStart,
  dpkgStatus,
  interfaceAddress,
  nginxDump,
  nginxVersion,
  pgClientVersion,
} from "../../src/doctor/commands";
import { pgClientsCheckIn } from "../../src/doctor/pg-clients";
import { affectedByDumpCves, parsePgClientVersion } from "../../src/host/postgres/clients";
import { startFix } from "../../src/doctor/pg-hints";
import { loadContext, makeContext } from "../../src/doctor/context";
import { apiBaseUrl, daemonCheck } from "../../src/doctor/daemon";
import { diskCheck, diskLevel, formatGib } from "../../src/doctor/disk";
import { dockerCheck, dockerVersionSupported, imageCheck, parseMajorMinor } from "../../src/doctor/docker";
import { hostFitCheck } from "../../src/doctor/host-fit";
import {
  lostMasterHint,
  mastersOf,
  nginxCheck,
  parseNginxVersion,
  restartHint,
  startHint,
} from "../../src/doctor/nginx";
import { nginx as nginxCommands } from "../../src/host/nginx/commands";
import { run } from "../../src/exec/run";
import { listeningInodes, portHolders } from "../../src/doctor/ports";
import { listenCovers, pgHbaCheck, pgWhere, postgresCheck } from "../../src/doctor/postgres";
import { acmeCheck, clockCheck, clockLevel, s3Check } from "../../src/doctor/remote";
import { certsCheck } from "../../src/doctor/certs";
import { configCheck, migrationState, stateCheck } from "../../src/doctor/state";
import { openState } from "../../src/state/db";
import { embeddedMigrations } from "../../src/state/migrations.gen";
import { makeCa, makeLeaf } from "../certs/fixtures";
import { startNginx, type TestNginx, writeDebianLikeNginxConf } from "../support/nginx";
import { freePort } from "../support/ports";
import { makeTempDir, removeTempDir } from "../support/tmp";

const STANDIN_IMAGE = "odooops-test/odoo:17.0";
const dirs: string[] = [];
let nginx: TestNginx | null = null;

afterAll(async () => {
  await nginx?.stop();
  for (const d of dirs) removeTempDir(d);
});

function tempRoot(): string {
  const d = makeTempDir("odooops-doctor-");
  dirs.push(d);
  return d;
}

function ctxWith(overrides: Record<string, unknown> = {}, root = tempRoot(), now?: Date) {
  return makeContext({ paths: resolvePaths(root), config: ConfigSchema.parse(overrides), now });
}

async function outcome(check: Check, ctx: ReturnType<typeof makeContext>) {
  return runCheck(check, ctx);
}

describe("report", () => {
  test("a check that throws is a fail naming it; warn and skip keep the exit code at 0", async () => {
    const boom: Check = {
      id: "boom",
      title: "t",
      run: async () => {
        throw new Error("kaput");
      },
    };
    const r = await outcome(boom, ctxWith());
    expect(r).toMatchObject({ id: "boom", status: "fail" });
    expect(r.message).toContain("kaput");
    const results = [
      { id: "a", title: "", status: "pass" as const, message: "fine" },
      { id: "bb", title: "", status: "warn" as const, message: "meh", hint: "do x" },
      { id: "c", title: "", status: "skip" as const, message: "n/a" },
    ];
    expect(summarize(results)).toEqual({ ok: true, counts: { pass: 1, warn: 1, fail: 0, skip: 1 } });
    expect(summarize([...results, { ...r }]).ok).toBe(false);
    expect(renderReport(results)).toBe(
      "✓ a   fine\n! bb  meh\n      fix: do x\n- c   n/a\n1 passed, 1 warning, 0 failed, 1 skipped\n",
    );
  });
});

describe("roles", () => {
  test("a coordinator skips the checks of docker, PostgreSQL, nginx and the web ports", async () => {
    const { DOCTOR_CHECKS } = await import("../../src/doctor");
    const ctx = ctxWith({
      role: "coordinator",
      docker: { binary: "/nonexistent/docker" },
      nginx: { binary: "/nonexistent/nginx" },
    });
    const results = await Promise.all(DOCTOR_CHECKS.map((c) => runCheck(c, ctx)));
    const skipped = results.filter((r) => r.message === "coordinator: environments run on the agents").map((r) => r.id);
    expect(skipped).toEqual([
      "docker",
      "image",
      "docker-limits",
      "host-fit",
      "postgres",
      "pg-hba",
      "pg-tenant",
      "pg-docker",
      "pg-container",
      "pg-clients",
      "nginx",
      "port-http",
      "port-https",
    ]);
    expect(results.find((r) => r.id === "config")?.status).not.toBe("skip");
  });
});

describe("commands as data", () => {
  test("exact argv", () => {
    expect(dockerServerVersion("docker").argv).toEqual(["docker", "version", "--format", "{{.Server.Version}}"]);
    expect(dockerRootDir("/usr/bin/docker").argv).toEqual([
      "/usr/bin/docker",
      "info",
      "--format",
      "{{.DockerRootDir}}",
    ]);
    expect(nginxVersion("nginx").argv).toEqual(["nginx", "-v"]);
    expect(nginxDump("nginx", "/etc/nginx/nginx.conf").argv).toEqual([
      "nginx",
      "-T",
      "-q",
      "-c",
      "/etc/nginx/nginx.conf",
    ]);
    expect(interfaceAddress("docker0").argv).toEqual(["ip", "-4", "-o", "addr", "show", "dev", "docker0"]);
    expect(dpkgStatus("postgresql")).toMatchObject({
      argv: ["dpkg-query", "-W", "-f=${Status}", "postgresql"],
      okExitCodes: [1],
    });
    expect(pgClientVersion("psql").argv).toEqual(["psql", "--version"]);
    // Not run by a test: starting a second engine would take over the shared docker0 and socket.
    expect(dockerdStart("/usr/sbin/dockerd").argv).toEqual([
      "start-stop-daemon",
      "--start",
      "--background",
      "--output",
      "/var/log/dockerd.log",
      "--exec",
      "/usr/sbin/dockerd",
    ]);
  });

  test("a command hint is argv in JSON and one pasteable line for people", () => {
    expect(shellLine(["nginx", "-c", "/srv/n.conf"])).toBe("nginx -c /srv/n.conf");
    expect(shellLine(["psql", "-c", "ALTER ROLE x CREATEDB", "it's"])).toBe(
      "psql -c 'ALTER ROLE x CREATEDB' 'it'\\''s'",
    );
    expect(fail("down", fix(["nginx"], "starts it"))).toEqual({
      status: "fail",
      message: "down",
      hint: "nginx (starts it)",
      command: ["nginx"],
    });
    expect(warn("meh", "edit the file")).toEqual({ status: "warn", message: "meh", hint: "edit the file" });
  });
});

describe("pure rules", () => {
  test("PostgreSQL clients affected by CVE-2025-8714/8715: below 17.6, 16.10, 15.14, 14.19, 13.22, and every 12 or older", () => {
    expect(parsePgClientVersion("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n")).toEqual([15, 18]);
    expect(parsePgClientVersion("psql (PostgreSQL) 18beta3")).toEqual([18, 0]);
    expect(parsePgClientVersion("command not found")).toBeNull();
    for (const [major, minor] of [
      [17, 5],
      [16, 9],
      [15, 13],
      [14, 18],
      [13, 21],
      [12, 22],
      [11, 20],
      [9, 6],
    ])
      expect(affectedByDumpCves(major, minor)).toBe(true);
    for (const [major, minor] of [
      [17, 6],
      [16, 10],
      [15, 14],
      [15, 18],
      [14, 19],
      [13, 22],
      [18, 0],
      [19, 1],
    ])
      expect(affectedByDumpCves(major, minor)).toBe(false);
  });

  test("versions", () => {
    expect(parseMajorMinor("20.10.24+dfsg1")).toEqual([20, 10]);
    expect(parseMajorMinor("v27.3.1")).toEqual([27, 3]);
    expect(parseMajorMinor("dev")).toBeNull();
    expect(dockerVersionSupported("20.10.0")).toBe(true);
    expect(dockerVersionSupported("26.1.5")).toBe(true);
    expect(dockerVersionSupported("19.03.15")).toBe(false);
    expect(dockerVersionSupported("20.9.1")).toBe(false);
    expect(parseNginxVersion("nginx version: nginx/1.22.1\n")).toBe("1.22.1");
    expect(parseNginxVersion("command not found")).toBeNull();
  });

  test("listen_addresses coverage and connection labels", () => {
    expect(listenCovers("localhost", "172.17.0.1")).toBe(false);
    expect(listenCovers("127.0.0.1, 172.17.0.1", "172.17.0.1")).toBe(true);
    expect(listenCovers("*", "172.17.0.1")).toBe(true);
    expect(listenCovers("0.0.0.0", "172.17.0.1")).toBe(true);
    expect(listenCovers("0.0.0.0", "fd00::1")).toBe(false);
    expect(listenCovers("::", "fd00::1")).toBe(true);
    expect(pgWhere({ host: "/var/run/postgresql", port: 5432 })).toBe("/var/run/postgresql/.s.PGSQL.5432");
    expect(pgWhere({ host: "10.0.0.2", port: 5433 })).toBe("10.0.0.2:5433");
  });

  test("thresholds: disk and clock", () => {
    const G = 1024 ** 3;
    expect(diskLevel(100 * G, 200 * G)).toBe("pass");
    expect(diskLevel(4 * G, 10 * G)).toBe("warn"); // under 5 GiB
    expect(diskLevel(50 * G, 1000 * G)).toBe("warn"); // under 10 %
    expect(diskLevel(0.5 * G, 2 * G)).toBe("fail"); // under 1 GiB
    expect(diskLevel(15 * G, 1000 * G)).toBe("fail"); // under 2 %
    expect(formatGib(3.25 * G)).toBe("3.3 GiB");
    expect(formatGib(77.4 * G)).toBe("77 GiB");
    expect(clockLevel(2_000)).toBe("pass");
    expect(clockLevel(-30_000)).toBe("pass");
    expect(clockLevel(-90_000)).toBe("warn");
    expect(clockLevel(600_000)).toBe("fail");
  });

  test("migrations: pending are newer than the newest applied; unknown ones come from a newer binary", () => {
    const embedded = [
      { tag: "0000_a", when: 100 },
      { tag: "0001_b", when: 200 },
    ];
    expect(migrationState([100, 200], embedded)).toEqual({ pending: [], unknown: 0 });
    expect(migrationState([100], embedded)).toEqual({ pending: ["0001_b"], unknown: 0 });
    expect(migrationState([], embedded)).toEqual({ pending: ["0000_a", "0001_b"], unknown: 0 });
    expect(migrationState([100, 200, 300], embedded)).toEqual({ pending: [], unknown: 1 });
  });

  test("API URL of a listen address", () => {
    expect(apiBaseUrl("127.0.0.1:8420")).toBe("http://127.0.0.1:8420");
    expect(apiBaseUrl("0.0.0.0:9000")).toBe("http://127.0.0.1:9000");
    expect(apiBaseUrl("localhost:1")).toBe("http://localhost:1");
  });
});

describe("ports from /proc", () => {
  test("parses LISTEN rows of a /proc/net/tcp table", () => {
    const table = [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0 100 0 0 10 0",
      "   1: 0100007F:0050 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2222 1 0 20 4 30 10 -1",
      "   2: 0100007F:01BB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3333 1 0 100 0 0 10 0",
    ].join("\n");
    expect(listeningInodes(table, 80)).toEqual([1111]); // the established connection (st 01) is not a listener
    expect(listeningInodes(table, 443)).toEqual([3333]);
    expect(listeningInodes(table, 8080)).toEqual([]);
  });

  test("finds this process as the holder of a port it listens on; a free port has none", async () => {
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("x") });
    try {
      const held = portHolders(server.port!);
      expect(held.listening).toBe(true);
      expect(held.holders.map((h) => h.pid)).toContain(process.pid);
    } finally {
      server.stop(true);
    }
    const free = await freePort();
    expect(portHolders(free)).toEqual({ listening: false, holders: [] });
  });

  test("port check: a port taken by another program fails naming it, a free one passes", async () => {
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("x") });
    const free = await freePort();
    try {
      const ctx = ctxWith({ nginx: { httpPort: server.port, httpsPort: free, configFile: "/nonexistent/nginx.conf" } });
      const { httpPortCheck, httpsPortCheck } = await import("../../src/doctor/nginx");
      const taken = await outcome(httpPortCheck, ctx);
      expect(taken.status).toBe("fail");
      expect(taken.message).toContain(`port ${server.port} is taken by`);
      expect(taken.message).toContain(`(pid ${process.pid})`);
      expect(taken.hint).toContain("nginx must answer HTTP");
      expect(await outcome(httpsPortCheck, ctx)).toMatchObject({ status: "pass", message: `port ${free} is free` });
    } finally {
      server.stop(true);
    }
  });
});

describe("config and state", () => {
  test("config: missing file warns, a bad key fails naming it, a good file passes", async () => {
    const root = tempRoot();
    expect(await outcome(configCheck, loadContext({ root, env: {} }))).toMatchObject({
      status: "warn",
      hint: "run `odooops init`",
    });
    mkdirSync(join(root, "etc"));
    writeFileSync(join(root, "etc", "config.yaml"), "postgres:\n  port: nope\n");
    const bad = await outcome(configCheck, loadContext({ root, env: {} }));
    expect(bad.status).toBe("fail");
    expect(bad.message).toContain("postgres.port");
    // Everything that needs the config says why it is skipped.
    expect(await outcome(imageCheck, loadContext({ root, env: {} }))).toMatchObject({
      status: "skip",
      message: "config invalid",
    });
    writeFileSync(join(root, "etc", "config.yaml"), "postgres:\n  port: 5433\n");
    expect(await outcome(configCheck, loadContext({ root, env: {} }))).toMatchObject({ status: "pass" });
    // Environment overrides are part of what the daemon loads.
    expect((await outcome(configCheck, loadContext({ root, env: { ODOOOPS_POSTGRES_PORT: "x" } }))).status).toBe(
      "fail",
    );
  });

  test("state: absent warns; migrated passes; a missing migration warns; a newer database fails; garbage fails", async () => {
    const root = tempRoot();
    const paths = resolvePaths(root);
    const ctx = () => makeContext({ paths, config: ConfigSchema.parse({}) });
    expect(await outcome(stateCheck, ctx())).toMatchObject({ status: "warn" });
    openState(paths.stateDb).$client.close();
    const ok = await outcome(stateCheck, ctx());
    expect(ok.status).toBe("pass");
    expect(ok.message).toContain(`${embeddedMigrations.length} migration(s) applied, none pending`);
    const db = new Database(paths.stateDb);
    db.run("DELETE FROM __drizzle_migrations");
    db.close();
    const pending = await outcome(stateCheck, ctx());
    expect(pending.status).toBe("warn");
    expect(pending.message).toContain(embeddedMigrations[0].tag);
    expect(pending.command).toBeUndefined();
    expect(
      await outcome(stateCheck, makeContext({ paths, config: ConfigSchema.parse({}), systemd: true })),
    ).toMatchObject({ status: "warn", command: ["systemctl", "restart", "odooops"] });
    const db2 = new Database(paths.stateDb);
    db2.run("INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('x', ?)", [
      Math.max(...embeddedMigrations.map((m) => m.when)) + 1,
    ]);
    db2.run("INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('y', ?)", [embeddedMigrations[0].when]);
    db2.close();
    expect(await outcome(stateCheck, ctx())).toMatchObject({ status: "fail" });
    const other = resolvePaths(tempRoot());
    mkdirSync(join(other.dataDir, "state"), { recursive: true });
    writeFileSync(other.stateDb, "this is not a database, just text that is long enough to have a header".repeat(20));
    expect((await outcome(stateCheck, makeContext({ paths: other, config: ConfigSchema.parse({}) }))).status).toBe(
      "fail",
    );
  });

  test("daemon: nothing listening fails with how to start it", async () => {
    const port = await freePort();
    const ctx = ctxWith({ listen: `127.0.0.1:${port}` });
    const r = await outcome(daemonCheck, ctx);
    expect(r.status).toBe("fail");
    expect(r.message).toContain(`http://127.0.0.1:${port}/api/v1/health`);
    // Where systemd is not PID 1 the daemon is started by hand, on this root (hints.test.ts runs it).
    expect(r.command).toEqual(["odooops", "--root", ctx.paths.root!, "serve"]);
    expect(
      await outcome(daemonCheck, makeContext({ paths: ctx.paths, config: ctx.config, systemd: true })),
    ).toMatchObject({ command: ["systemctl", "start", "odooops"] });
  });
});

describe("docker", () => {
  test("engine reachable with a supported version; a missing binary fails and names the package", async () => {
    const r = await outcome(dockerCheck, ctxWith());
    expect(r.status).toBe("pass");
    expect(r.message).toMatch(/^Docker \d+\.\d+/);
    const missing = await outcome(dockerCheck, ctxWith({ docker: { binary: "/nonexistent/docker" } }));
    expect(missing).toMatchObject({ status: "fail", install: ["docker.io"] });
  });

  test("image: present passes, absent warns with the pull command, no docker skips", async () => {
    expect((await outcome(imageCheck, ctxWith({ odoo: { image: STANDIN_IMAGE } }))).status).toBe("pass");
    const absent = `odooops-test/absent-${crypto.randomUUID().slice(0, 8)}:1`;
    expect(await outcome(imageCheck, ctxWith({ odoo: { image: absent } }))).toMatchObject({
      status: "warn",
      hint: `docker pull ${absent} (otherwise the first env create pulls it)`,
    });
    expect((await outcome(imageCheck, ctxWith({ docker: { binary: "/nonexistent/docker" } }))).status).toBe("skip");
  });

  test("engine unreachable: where systemd is not PID 1 the hint starts dockerd without a shell", async () => {
    const saved = process.env.DOCKER_HOST;
    // The real docker CLI, pointed at a socket nothing listens on.
    process.env.DOCKER_HOST = `unix://${tempRoot()}/docker.sock`;
    try {
      const down = await outcome(
        dockerCheck,
        makeContext({ paths: resolvePaths(tempRoot()), config: ConfigSchema.parse({}), systemd: false }),
      );
      expect(down.status).toBe("fail");
      expect(down.command).toEqual(dockerdStart(Bun.which("dockerd") ?? "/usr/sbin/dockerd").argv);
      const unit = await outcome(
        dockerCheck,
        makeContext({ paths: resolvePaths(tempRoot()), config: ConfigSchema.parse({}), systemd: true }),
      );
      expect(unit.command).toEqual(["systemctl", "enable", "--now", "docker"]);
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
    }
  });

  test("disk: one line per filesystem, state and docker root included", async () => {
    const r = await outcome(diskCheck, ctxWith());
    expect(["pass", "warn", "fail"]).toContain(r.status);
    expect(r.message).toContain("state");
    expect(r.message).toContain("docker");
    expect(r.message).toMatch(/GiB free \(\d+%\)/);
  });
});

describe("host-fit", () => {
  test("tier limits above the host are named with what env create will use; limits within it pass plainly", async () => {
    const paths = resolvePaths(tempRoot());
    const small = makeContext({ paths, config: ConfigSchema.parse({}), host: { cpus: 2, memoryMb: 3900 } });
    expect(await outcome(hostFitCheck, small)).toEqual({
      id: "host-fit",
      title: "tier limits fit this host's CPUs and memory",
      status: "pass",
      message:
        "this host has 2 CPUs and 3900 MiB; env create lowers: tiers.production.cpus 4 is above this host's 2 CPUs: using 2; tiers.production.memoryMb 4096 is above this host's 3900 MiB: using 3900",
    });
    const big = makeContext({ paths, config: ConfigSchema.parse({}), host: { cpus: 8, memoryMb: 16000 } });
    expect((await outcome(hostFitCheck, big)).message).toBe("every tier fits (this host has 8 CPUs and 16000 MiB)");
  });
});

describe("nginx", () => {
  test("valid config including the sites dir passes; without the include warns; a broken one fails; missing binary names the package", async () => {
    nginx = await startNginx();
    const good = await outcome(nginxCheck, ctxWith({ nginx: { configFile: nginx.configFile } }, nginx.dir));
    expect(good.status).toBe("pass");
    expect(good.message).toContain(nginx.sitesDir);
    const elsewhere = await outcome(nginxCheck, ctxWith({ nginx: { configFile: nginx.configFile } }));
    expect(elsewhere.status).toBe("warn");
    expect(elsewhere.hint).toContain("include ");
    const broken = join(tempRoot(), "broken.conf");
    writeFileSync(broken, "events {}\nhttp { server { listen nope; } }\n");
    const bad = await outcome(nginxCheck, ctxWith({ nginx: { configFile: broken } }));
    expect(bad.status).toBe("fail");
    expect(bad.message).toContain("nginx -t rejects");
    expect(await outcome(nginxCheck, ctxWith({ nginx: { binary: "/nonexistent/nginx" } }))).toMatchObject({
      status: "fail",
      install: ["nginx"],
    });
  });

  test("a stopped nginx or an empty pid file fails with the start command of this host; running that command makes it pass", async () => {
    const own = await startNginx();
    try {
      const ctx = (systemd: boolean) =>
        makeContext({
          paths: resolvePaths(own.dir),
          config: ConfigSchema.parse({ nginx: { configFile: own.configFile } }),
          systemd,
        });
      const pidFile = join(own.dir, "run", "nginx.pid");
      const running = await outcome(nginxCheck, ctx(false));
      expect(running.status).toBe("pass");
      expect(running.message).toContain(`running (master pid ${readFileSync(pidFile, "utf8").trim()})`);

      // The master runs but its pid file is empty or names a dead process: starting another
      // would fail on the ports, so the hint stops this one by its pid first.
      const pid = readFileSync(pidFile, "utf8");
      for (const wrong of ["", "999999"]) {
        writeFileSync(pidFile, wrong);
        try {
          expect(mastersOf(own.configFile)).toEqual([Number(pid)]);
          expect(await outcome(nginxCheck, ctx(false))).toMatchObject({
            status: "fail",
            message: `nginx master ${pid.trim()} runs but ${wrong === "" ? `${pidFile} is empty` : `no process 999999 (from ${pidFile})`}: reloads through the pid file fail`,
            hint: `stop the master (kill -QUIT ${pid.trim()}), then start it: nginx -c ${own.configFile}`,
          });
        } finally {
          writeFileSync(pidFile, pid);
        }
      }

      await run(nginxCommands({ binary: own.binary, configFile: own.configFile }).quit());
      while (existsSync(pidFile)) await Bun.sleep(20);
      const stopped = await outcome(nginxCheck, ctx(true));
      expect(stopped).toMatchObject({
        status: "fail",
        message: `nginx is not running: ${pidFile} does not exist`,
        hint: `nginx -c ${own.configFile}`,
      });
      // `nginx -T` in the check left an empty pid file: the hint's command must still start nginx.
      expect(readFileSync(pidFile, "utf8")).toBe("");
      expect(stopped.command).toEqual([own.binary, "-c", own.configFile]);
      await run({ argv: stopped.command! });
      expect((await outcome(nginxCheck, ctx(false))).status).toBe("pass");
    } finally {
      await own.stop();
    }
  });

  test("without odooops' include, a Debian-layout config (conf.d/*.conf in http) gets init --yes; another gets the line to add", async () => {
    const dir = tempRoot();
    const configFile = writeDebianLikeNginxConf(dir);
    await run({ argv: ["nginx", "-c", configFile] });
    try {
      const root = tempRoot();
      const r = await outcome(nginxCheck, ctxWith({ nginx: { configFile } }, root));
      expect(r).toMatchObject({ status: "warn", command: ["odooops", "--root", root, "init", "--yes"] });
      expect(r.hint).toContain(`writes ${dir}/conf.d/odooops.conf`);
    } finally {
      await run({ argv: ["nginx", "-s", "quit", "-c", configFile] }, { nothrow: true });
      while (existsSync(join(dir, "nginx.pid"))) await Bun.sleep(20);
    }
    if (!nginx) nginx = await startNginx();
    const otherRoot = tempRoot();
    const other = await outcome(nginxCheck, ctxWith({ nginx: { configFile: nginx.configFile } }, otherRoot));
    expect(other.command).toBeUndefined();
    expect(other.hint).toBe(
      `add "include ${resolvePaths(otherRoot).nginxDir}/sites/*.conf;" to the http block of ${nginx.configFile}`,
    );
  });

  test("the start hint says systemctl only where systemd runs nginx's default config", () => {
    expect(startHint("nginx", "/etc/nginx/nginx.conf", true)).toEqual({
      command: ["systemctl", "enable", "--now", "nginx"],
    });
    expect(startHint("nginx", "/etc/nginx/nginx.conf", false)).toEqual({ command: ["nginx"] });
    expect(startHint("/usr/sbin/nginx", "/srv/nginx.conf", true)).toEqual({
      command: ["/usr/sbin/nginx", "-c", "/srv/nginx.conf"],
    });
    // A reload that fails is advice where systemd does not run nginx: two commands, in order.
    expect(restartHint("nginx", "/etc/nginx/nginx.conf", true)).toEqual({ command: ["systemctl", "restart", "nginx"] });
    expect(restartHint("nginx", "/srv/n.conf", false)).toBe(
      "stop the master (nginx -s quit -c /srv/n.conf), then start it: nginx -c /srv/n.conf",
    );
    // A master the pid file lost: systemd's unit knows it; elsewhere it is stopped by its pid.
    expect(lostMasterHint([42], "nginx", "/etc/nginx/nginx.conf", true)).toEqual({
      command: ["systemctl", "restart", "nginx"],
    });
    expect(lostMasterHint([42], "nginx", "/srv/n.conf", false)).toBe(
      "stop the master (kill -QUIT 42), then start it: nginx -c /srv/n.conf",
    );
  });

  test("the HTTP port held by odooops' nginx passes", async () => {
    if (!nginx) nginx = await startNginx();
    const { httpPortCheck } = await import("../../src/doctor/nginx");
    const r = await outcome(
      httpPortCheck,
      ctxWith({ nginx: { configFile: nginx.configFile, httpPort: nginx.port } }, nginx.dir),
    );
    expect(r.status).toBe("pass");
    expect(r.message).toContain("served by odooops' nginx");
  });
});

describe("PostgreSQL clients", () => {
  test("this host's pg_dump, pg_restore and psql pass; clients reporting 15.13 warn with the fixed versions; missing ones warn with the package", async () => {
    const ok = await outcome(pgClientsCheckIn("/usr/lib/postgresql/15/bin"), ctxWith());
    expect(ok.status).toBe("pass");
    expect(ok.message).toMatch(/^pg_dump 15\.\d+, pg_restore 15\.\d+, psql 15\.\d+$/);

    // Programs that answer --version like a 15.13 client (no such package can be installed here).
    const old = tempRoot();
    for (const p of ["pg_dump", "pg_restore", "psql"])
      writeFileSync(join(old, p), `#!/bin/sh\necho "${p} (PostgreSQL) 15.13 (Debian 15.13-0+deb12u1)"\n`, {
        mode: 0o755,
      });
    const affected = await outcome(pgClientsCheckIn(old), ctxWith());
    expect(affected.status).toBe("warn");
    expect(affected.message).toBe(
      "pg_dump 15.13, pg_restore 15.13, psql 15.13: affected by CVE-2025-8714/CVE-2025-8715 (a dump can run shell commands in psql when restored)",
    );
    expect(affected.hint).toContain("17.6, 16.10, 15.14, 14.19, 13.22 or later");

    const none = await outcome(pgClientsCheckIn(tempRoot()), ctxWith());
    expect(none).toMatchObject({ status: "warn", hint: "apt-get install postgresql-client" });
    expect(none.message).toContain("pg_dump, pg_restore, psql");
  });
});

describe("PostgreSQL without a server", () => {
  test("unreachable fails with how to start it; dependent checks skip; unmanaged pg_hba warns", async () => {
    const port = await freePort();
    const ctx = ctxWith({ postgres: { host: "127.0.0.1", port, password: "x" } });
    const r = await outcome(postgresCheck, ctx);
    expect(r.status).toBe("fail");
    expect(r.message).toContain(`127.0.0.1:${port}`);
    expect(r.hint).toBe(
      `start the PostgreSQL server that should listen on port ${port}, then check postgres.host and postgres.port in the config`,
    );
    expect(await outcome(pgHbaCheck, ctx)).toMatchObject({ status: "skip" });
    // This host's own Debian cluster on that port: its start command, systemd or not.
    const main = { version: "15", name: "main", port, online: false, owner: "postgres" };
    expect(startFix(main, false, port)).toEqual({ command: ["pg_ctlcluster", "15", "main", "start"] });
    expect(startFix(main, true, port)).toEqual({ command: ["systemctl", "enable", "--now", "postgresql"] });
    // The group unit still active: only the cluster's own unit was stopped.
    expect(startFix(main, true, port, true)).toEqual({ command: ["systemctl", "start", "postgresql@15-main"] });
    expect(typeof startFix(main, false, port + 1)).toBe("string");
    expect(await outcome(pgHbaCheck, ctxWith({ postgres: { hbaFile: "" } }))).toMatchObject({ status: "warn" });
  });
});

describe("remote services and certificates", () => {
  test("ACME off skips acme and clock; an unreachable directory fails; no S3 skips", async () => {
    expect((await outcome(acmeCheck, ctxWith())).status).toBe("skip");
    expect((await outcome(clockCheck, ctxWith())).status).toBe("skip");
    expect((await outcome(s3Check, ctxWith())).status).toBe("skip");
    const port = await freePort();
    const r = await outcome(acmeCheck, ctxWith({ acme: { directoryUrl: `http://127.0.0.1:${port}/dir` } }));
    expect(r.status).toBe("fail");
    expect(r.message).toContain(`http://127.0.0.1:${port}/dir`);
    expect(r.hint).toContain("--acme-ca");
  });

  test("certificates: none passes; expiring within 14 days warns; expired fails", async () => {
    const root = tempRoot();
    const paths = resolvePaths(root);
    const at = (days: number) =>
      makeContext({ paths, config: ConfigSchema.parse({}), now: new Date(Date.now() + days * 86_400_000) });
    expect(await outcome(certsCheck, at(0))).toMatchObject({ status: "pass", message: "no certificates stored yet" });
    const ca = await makeCa(root);
    const leaf = await makeLeaf(root, ca, ["shop.example.com"], 30);
    saveCertificate(paths.certsDir, "shop.example.com", {
      fullchainPem: leaf.certPem,
      privkeyPem: leaf.keyPem,
      source: "imported",
    });
    const fine = await outcome(certsCheck, at(0));
    expect(fine.status).toBe("pass");
    expect(fine.message).toContain("shop.example.com");
    const soon = await outcome(certsCheck, at(20));
    expect(soon.status).toBe("warn");
    expect(soon.message).toContain("shop.example.com");
    expect((await outcome(certsCheck, at(31))).status).toBe("fail");
  });
});
