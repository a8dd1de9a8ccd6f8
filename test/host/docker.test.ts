import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { chownSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Conflict, Invalid } from "../../src/errors";
import { run } from "../../src/exec/run";
import { docker, dockerClient, type RunSpec } from "../../src/host/docker";
import { createDatabase, createRole, pgConnect, setHbaEntry } from "../../src/host/postgres";
import { removeByLabel, testLabel } from "../support/docker";
import { freePort } from "../support/ports";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";

/** bunfig's [test] timeout is not applied by bun 1.4.5: integration steps say it themselves. */
const SLOW = 120_000;

const d = docker({ binary: "docker" });

describe("docker command builders", () => {
  test(
    "run: every spec field, env values kept out of argv",
    () => {
      const spec: RunSpec = {
        name: "odoo-shop-r3",
        image: "odooops/shop:0123456789ab",
        labels: { "odooops.env": "12", "odooops.release": "3" },
        env: { HOST: "host.docker.internal" },
        secrets: { PASSWORD: "s3cret-pw" },
        publish: [
          { hostPort: 20001, containerPort: 8069 },
          { hostPort: 20002, containerPort: 8072 },
        ],
        cpus: 1.5,
        memoryMb: 2048,
        pidsLimit: 300,
        restart: "unless-stopped",
        network: "odooops-shop",
        hostGateway: true,
        mounts: [
          { source: "/var/lib/odooops/envs/shop/data", target: "/var/lib/odoo" },
          { source: "/var/lib/odooops/envs/shop/addons", target: "/mnt/extra-addons", readonly: true },
          { source: "shop-cache", target: "/cache" },
        ],
        user: "1000:1000",
        logMaxSize: "50m",
        logMaxFiles: 3,
        args: ["-d", "shop", "--proxy-mode"],
        detach: true,
      };
      const c = d.run(spec);
      expect(c.argv).toEqual([
        "docker",
        "run",
        "--detach",
        "--name",
        "odoo-shop-r3",
        "--label",
        "odooops.env=12",
        "--label",
        "odooops.release=3",
        "-e",
        "HOST",
        "-e",
        "PASSWORD",
        "--publish",
        "127.0.0.1:20001:8069",
        "--publish",
        "127.0.0.1:20002:8072",
        "--cpus",
        "1.5",
        "--memory",
        "2048m",
        "--memory-swap",
        "2048m",
        "--pids-limit",
        "300",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--restart",
        "unless-stopped",
        "--network",
        "odooops-shop",
        "--add-host",
        "host.docker.internal:host-gateway",
        "--mount",
        "type=bind,source=/var/lib/odooops/envs/shop/data,target=/var/lib/odoo",
        "--mount",
        "type=bind,source=/var/lib/odooops/envs/shop/addons,target=/mnt/extra-addons,readonly",
        "--mount",
        "type=volume,source=shop-cache,target=/cache",
        "--user",
        "1000:1000",
        "--log-opt",
        "max-size=50m",
        "--log-opt",
        "max-file=3",
        "odooops/shop:0123456789ab",
        "-d",
        "shop",
        "--proxy-mode",
      ]);
      expect(c.env).toEqual({ HOST: "host.docker.internal", PASSWORD: "s3cret-pw" });
      expect(c.redact).toEqual(["s3cret-pw"]);
      expect(c.argv.join(" ")).not.toContain("s3cret-pw");
    },
    SLOW,
  );

  test(
    "run --rm with entrypoint; variables the docker CLI reads itself stay inline",
    () => {
      const c = d.run({
        image: "odoo:17.0",
        rm: true,
        entrypoint: "psql",
        env: { HOME: "/tmp/h" },
        secrets: { DOCKER_X: "tok-1234" },
        args: ["-c", "select 1"],
      });
      expect(c.argv).toEqual([
        "docker",
        "run",
        "--rm",
        "-e",
        "HOME=/tmp/h",
        "-e",
        "DOCKER_X=tok-1234",
        "--cpus",
        "1",
        "--memory",
        "1024m",
        "--memory-swap",
        "1024m",
        "--pids-limit",
        "1024",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--user",
        "101:101",
        "--entrypoint",
        "psql",
        "odoo:17.0",
        "-c",
        "select 1",
      ]);
      expect(c.env).toBeUndefined();
      expect(c.redact).toEqual(["tok-1234"]);
    },
    SLOW,
  );

  test(
    "create / start / stop / rm / rename / logs / exec / inspect / ps",
    () => {
      expect(d.create({ image: "odoo:17.0", name: "x", labels: { a: "b" } }).argv).toEqual([
        "docker",
        "create",
        "--name",
        "x",
        "--label",
        "a=b",
        "--cpus",
        "1",
        "--memory",
        "1024m",
        "--memory-swap",
        "1024m",
        "--pids-limit",
        "1024",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--user",
        "101:101",
        "odoo:17.0",
      ]);
      expect(d.start("x").argv).toEqual(["docker", "start", "x"]);
      expect(d.stop("x", 30).argv).toEqual(["docker", "stop", "-t", "30", "x"]);
      expect(d.stop("x").argv).toEqual(["docker", "stop", "-t", "10", "x"]);
      // Always --volumes: the anonymous volumes an image declares (Odoo's /mnt/extra-addons) go with the container.
      expect(d.rm("x").argv).toEqual(["docker", "rm", "--volumes", "x"]);
      expect(d.rm("x", { force: true }).argv).toEqual(["docker", "rm", "--force", "--volumes", "x"]);
      expect(d.rename("x", "y").argv).toEqual(["docker", "rename", "x", "y"]);
      expect(d.logs("x", { follow: true, tail: 100 }).argv).toEqual([
        "docker",
        "logs",
        "--follow",
        "--tail",
        "100",
        "x",
      ]);
      expect(d.logs("x", { tail: "all", timestamps: true, since: "10m" }).argv).toEqual([
        "docker",
        "logs",
        "--tail",
        "all",
        "--timestamps",
        "--since",
        "10m",
        "x",
      ]);
      const ex = d.exec("x", ["odoo", "neutralize", "-d", "db"], {
        user: "odoo",
        env: { PGUSER: "u" },
        secrets: { PGPASSWORD: "pw-secret" },
      });
      expect(ex.argv).toEqual([
        "docker",
        "exec",
        "--user",
        "odoo",
        "-e",
        "PGUSER",
        "-e",
        "PGPASSWORD",
        "x",
        "odoo",
        "neutralize",
        "-d",
        "db",
      ]);
      expect(ex.env).toEqual({ PGUSER: "u", PGPASSWORD: "pw-secret" });
      expect(ex.redact).toEqual(["pw-secret"]);
      expect(d.inspect("x", "y").argv).toEqual(["docker", "container", "inspect", "x", "y"]);
      expect(d.ps({ labels: { "odooops.env": "12", "odooops.release": true } }).argv).toEqual([
        "docker",
        "ps",
        "--all",
        "--quiet",
        "--no-trunc",
        "--filter",
        "label=odooops.env=12",
        "--filter",
        "label=odooops.release",
      ]);
      expect(d.ps({ all: false }).argv).toEqual(["docker", "ps", "--quiet", "--no-trunc"]);
    },
    SLOW,
  );

  test(
    "networks, volumes, images, build",
    () => {
      expect(d.networkCreate("odooops-shop", { "odooops.env": "12" }).argv).toEqual([
        "docker",
        "network",
        "create",
        "--driver",
        "bridge",
        "--label",
        "odooops.env=12",
        "odooops-shop",
      ]);
      expect(d.networkRm("a", "b").argv).toEqual(["docker", "network", "rm", "a", "b"]);
      expect(d.networkInspect("a").argv).toEqual(["docker", "network", "inspect", "a"]);
      expect(d.networkLs({ "odooops.env": true }).argv).toEqual([
        "docker",
        "network",
        "ls",
        "--quiet",
        "--no-trunc",
        "--filter",
        "label=odooops.env",
      ]);
      expect(d.networkConnect("net", "c").argv).toEqual(["docker", "network", "connect", "net", "c"]);
      expect(d.volumeLs({ a: "b" }).argv).toEqual(["docker", "volume", "ls", "--quiet", "--filter", "label=a=b"]);
      expect(d.volumeRm("v1").argv).toEqual(["docker", "volume", "rm", "v1"]);
      expect(d.imageInspect("shop:abc").argv).toEqual(["docker", "image", "inspect", "shop:abc"]);
      expect(d.imageRm("shop:abc", { force: true }).argv).toEqual(["docker", "image", "rm", "--force", "shop:abc"]);
      expect(d.imageLs({ "odooops.env": "12" }).argv).toEqual([
        "docker",
        "image",
        "ls",
        "--quiet",
        "--no-trunc",
        "--filter",
        "label=odooops.env=12",
      ]);
      const b = d.build({
        context: "/src/shop",
        tag: "odooops/shop:abc",
        labels: { "odooops.env": "12" },
        buildArgs: { ODOO: "17.0" },
        pull: true,
        file: "/src/shop/Dockerfile",
      });
      expect(b.argv).toEqual([
        "docker",
        "build",
        "--tag",
        "odooops/shop:abc",
        "--label",
        "odooops.env=12",
        "--build-arg",
        "ODOO=17.0",
        "--pull",
        "--file",
        "/src/shop/Dockerfile",
        "/src/shop",
      ]);
      const s = d.build({ context: "/src/shop", tag: "t:1", dockerfileText: "FROM odoo:17.0\n" });
      expect(s.argv).toEqual(["docker", "build", "--tag", "t:1", "--file", "-", "/src/shop"]);
      expect(s.stdin).toBe("FROM odoo:17.0\n");
      expect(docker({ binary: "/usr/local/bin/docker" }).start("x").argv[0]).toBe("/usr/local/bin/docker");
    },
    SLOW,
  );

  test("hardening cannot be left out: limits, no capabilities, no-new-privileges, a non-root user", () => {
    const hardened = ["--cap-drop", "ALL", "--security-opt", "no-new-privileges"];
    for (const c of [
      d.run({ image: "x" }),
      d.create({ image: "x" }),
      d.run({ image: "x", rm: true, entrypoint: "sh", args: ["-c", "id"] }),
    ]) {
      const flags = c.argv.slice(0, c.argv.indexOf("x"));
      expect(flags.join(" ")).toContain(hardened.join(" "));
      expect(flags.join(" ")).toContain("--pids-limit 1024");
      expect(flags.join(" ")).toContain("--memory 1024m --memory-swap 1024m");
      expect(flags.join(" ")).toContain("--cpus 1");
      expect(flags.join(" ")).toContain("--user 101:101");
    }
    // The configured Odoo user, unless the spec names its own (non-root) one.
    const runAs = docker({ binary: "docker", runAs: "2000:2001" });
    expect(runAs.run({ image: "x" }).argv).toContain("2000:2001");
    expect(runAs.run({ image: "x", user: "3000:3000" }).argv).toContain("3000:3000");
    expect(runAs.run({ image: "x", user: "3000:3000" }).argv).not.toContain("2000:2001");
    for (const user of ["0", "0:0", "root", "root:root", "101:0", "0:101", "odoo", "101", "-1:101", "101:101:x"]) {
      expect(() => d.run({ image: "x", user })).toThrow(Invalid);
      expect(() => docker({ binary: "docker", runAs: user }).run({ image: "x" })).toThrow(Invalid);
    }
    expect(() => d.run({ image: "x", pidsLimit: 0 })).toThrow(Invalid);
    expect(() => d.run({ image: "x", cpus: 0 })).toThrow(Invalid);
  });

  test(
    "invalid input is refused before anything runs",
    () => {
      expect(() => d.start("-rf")).toThrow(Invalid);
      expect(() => d.run({ image: "--privileged" })).toThrow(Invalid);
      expect(() => d.run({ image: "x", labels: { "Bad Key": "v" } })).toThrow(Invalid);
      expect(() => d.run({ image: "x", env: { "A-B": "v" } })).toThrow(Invalid);
      expect(() => d.run({ image: "x", publish: [{ hostPort: 0, containerPort: 8069 }] })).toThrow(Invalid);
      expect(() => d.run({ image: "x", publish: [{ hostPort: 1, containerPort: 2, hostIp: "0.0.0.0:1" }] })).toThrow(
        Invalid,
      );
      expect(() => d.run({ image: "x", mounts: [{ source: "/a,b", target: "/x" }] })).toThrow(Invalid);
      expect(() => d.run({ image: "x", mounts: [{ source: "/a", target: "rel" }] })).toThrow(Invalid);
      expect(() => d.run({ image: "x", memoryMb: 1.5 })).toThrow(Invalid);
      expect(() => d.build({ context: ".", tag: "t:1", file: "a", dockerfileText: "b" })).toThrow(Invalid);
    },
    SLOW,
  );
});

describe("docker against the engine: stand-in Odoo on a per-env network reaching host PostgreSQL", () => {
  const label = testLabel();
  const sfx = randomSuffix();
  const net = `odooops-test-${sfx}`;
  const container = `odooops-test-odoo-${sfx}`;
  const db = `odoo_t${sfx}`;
  const password = `pw-${randomSuffix(20)}`;
  const client = dockerClient({ binary: "docker" });
  let pg: TestPostgres;
  let sql: SQL;
  let dataDir: string;
  let httpPort: number;
  let longpollPort: number;

  const odooEnv = () => ({ HOST: "host.docker.internal", PORT: String(pg.port), USER: db });

  beforeAll(async () => {
    // No blanket docker rule: the managed pg_hba block must be what lets the container in.
    pg = await startPostgres({ dockerAccess: false });
    sql = pgConnect({ host: pg.host, port: pg.port, user: pg.user, password: pg.password });
    await createRole(sql, db, password);
    await createDatabase(sql, db, db);
    dataDir = makeTempDir("odooops-odoo-data-");
    mkdirSync(join(dataDir, "filestore"));
    chownSync(dataDir, 101, 101);
    chownSync(join(dataDir, "filestore"), 101, 101);
    httpPort = await freePort();
    longpollPort = await freePort();
  }, SLOW);

  afterAll(async () => {
    await removeByLabel(`${label.key}=${label.value}`);
    await sql?.close().catch(() => undefined);
    await pg?.stop();
    if (dataDir) removeTempDir(dataDir);
  }, SLOW);

  test(
    "ensureNetwork creates a labelled network once and refuses a foreign one",
    async () => {
      const n = await client.ensureNetwork(net, label.labels);
      expect(n.Name).toBe(net);
      expect((await client.ensureNetwork(net, label.labels)).Id).toBe(n.Id);
      await expect(client.ensureNetwork(net, { ...label.labels, "odooops.env": "other" })).rejects.toBeInstanceOf(
        Conflict,
      );
      expect(await client.networksByLabel(label.key, label.value)).toEqual([n.Id]);
    },
    SLOW,
  );

  test("without an hba entry the container is refused; with it, odoo -i base initializes the database", async () => {
    const init = (): RunSpec => ({
      image: "odooops-test/odoo:17.0",
      rm: true,
      labels: label.labels,
      network: net,
      hostGateway: true,
      env: odooEnv(),
      secrets: { PASSWORD: password },
      mounts: [{ source: dataDir, target: "/var/lib/odoo" }],
      args: ["-d", db, "-i", "base", "--without-demo=all", "--stop-after-init"],
    });
    const refused = await run({ ...d.run(init()), timeoutMs: 120_000 }, { nothrow: true });
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toMatch(/no pg_hba\.conf entry for host "\d+\.\d+\.\d+\.\d+", user "odoo_t/);
    // Odoo opens the `postgres` database first (database list / existence check), so the env's
    // line must name it too.
    // Docker hands out 172.16/12 and then 192.168/16 pools: allow exactly this network's subnet.
    const subnet = (await client.inspectNetwork(net))!.IPAM.Config!.find((c) => c.Subnet && !c.Subnet.includes(":"))!
      .Subnet!;
    await setHbaEntry(sql, pg.hbaFile, { db, role: db, cidr: subnet });
    const half = await run({ ...d.run(init()), timeoutMs: 120_000 }, { nothrow: true });
    expect(half.exitCode).not.toBe(0);
    expect(half.stderr).toMatch(
      /no pg_hba\.conf entry for host "\d+\.\d+\.\d+\.\d+", user "odoo_t\w+", database "postgres"/,
    );
    await setHbaEntry(sql, pg.hbaFile, { db, role: db, cidr: subnet, extraDbs: ["postgres"] });
    const ok = await run({ ...d.run(init()), timeoutMs: 120_000 });
    expect(ok.exitCode).toBe(0);
    const db2 = pgConnect({ host: pg.host, port: pg.port, user: db, password, database: db });
    try {
      const [row] = await db2<{ state: string }[]>`SELECT state FROM ir_module_module WHERE name = 'base'`;
      expect(row.state).toBe("installed");
    } finally {
      await db2.close();
    }
    expect(readdirSync(join(dataDir, "filestore"))).toEqual([db]);
  }, 300_000);

  test("server container: published on loopback, limits applied, healthy with db_server_status", async () => {
    await run(
      d.run({
        image: "odooops-test/odoo:17.0",
        name: container,
        detach: true,
        labels: label.labels,
        network: net,
        hostGateway: true,
        env: odooEnv(),
        secrets: { PASSWORD: password },
        publish: [
          { hostPort: httpPort, containerPort: 8069 },
          { hostPort: longpollPort, containerPort: 8072 },
        ],
        cpus: 1,
        memoryMb: 512,
        restart: "unless-stopped",
        mounts: [{ source: dataDir, target: "/var/lib/odoo" }],
        logMaxSize: "10m",
        logMaxFiles: 2,
        args: ["-d", db, "--proxy-mode", "--no-database-list"],
      }),
    );
    const info = await client.inspectContainer(container);
    expect(info?.State.Running).toBe(true);
    expect(info?.Config.Labels?.[label.key]).toBe(label.value);
    expect(client.publishedPort(info!, 8069)).toBe(httpPort);
    expect(info?.NetworkSettings.Ports?.["8069/tcp"]?.[0].HostIp).toBe("127.0.0.1");
    const hc = await run(d.inspect(container));
    const raw = JSON.parse(hc.stdout)[0] as {
      HostConfig: { NanoCpus: number; Memory: number; RestartPolicy: { Name: string }; ExtraHosts: string[] };
    };
    expect(raw.HostConfig.NanoCpus).toBe(1e9);
    expect(raw.HostConfig.Memory).toBe(512 * 1024 * 1024);
    expect(raw.HostConfig.RestartPolicy.Name).toBe("unless-stopped");
    expect(raw.HostConfig.ExtraHosts).toEqual(["host.docker.internal:host-gateway"]);

    let health: Response | undefined;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      health = await fetch(`http://127.0.0.1:${httpPort}/web/health?db_server_status=1`).catch(() => undefined);
      if (health?.status === 200) break;
      await Bun.sleep(250);
    }
    expect(health?.status).toBe(200);
    expect(await health!.json()).toEqual({ status: "pass", db_server_status: true });
    const version = await fetch(`http://127.0.0.1:${longpollPort}/web/webclient/version_info`);
    expect(((await version.json()) as { server_serie: string }).server_serie).toBe("17.0");
    const logs = await run(d.logs(container, { tail: 50 }));
    expect(logs.stderr + logs.stdout).toContain('"GET /web/health?db_server_status=1 HTTP/1.1" 200');
    expect((await client.listByLabel(label.key, label.value)).map((c) => c.Name)).toEqual([`/${container}`]);
  }, 120_000);

  test("stop, rm, and inspect of a missing container", async () => {
    await run(d.stop(container, 5));
    expect((await client.inspectContainer(container))?.State.Running).toBe(false);
    await run(d.rm(container));
    expect(await client.inspectContainer(container)).toBeNull();
    expect(await client.inspectNetwork(`missing-${sfx}`)).toBeNull();
    expect(await client.listByLabel(label.key, label.value)).toEqual([]);
  }, 60_000);

  test("build from a Dockerfile on stdin, inspect, remove", async () => {
    const ctx = makeTempDir("odooops-build-");
    const tag = `odooops-test/build-${sfx}:1`;
    try {
      await run(
        d.build({
          context: ctx,
          tag,
          labels: label.labels,
          dockerfileText: "FROM odooops-test/odoo:17.0\nENV ODOOOPS_BUILT=1\n",
        }),
      );
      const img = await client.inspectImage(tag);
      expect(img?.RepoTags).toContain(tag);
      expect(img?.Config.Labels?.[label.key]).toBe(label.value);
      await run(d.imageRm(tag));
      expect(await client.inspectImage(tag)).toBeNull();
    } finally {
      removeTempDir(ctx);
    }
  }, 300_000);
});
