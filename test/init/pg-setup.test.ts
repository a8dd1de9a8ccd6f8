/**
 * init's PostgreSQL setup: the pure planners (exact psql argv and scripts, pg_lsclusters parsing,
 * listen_addresses and pg_hba edits), then the whole setup against a real Debian cluster of its
 * own (pg_createcluster on a free port, dropped in afterAll): a stock cluster reachable only by
 * peer auth ends up with role odooops (not a superuser) reachable over 127.0.0.1, listening where
 * containers reach it, and a rerun changes nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ConfigSchema } from "../../src/config/schema";
import { probePostgres } from "../../src/doctor/postgres-probe";
import { run } from "../../src/exec/run";
import { createDatabase, createRole, dropDatabase, dropRole, pgAdmin } from "../../src/host/postgres";
import { containerAddresses, setupPostgres } from "../../src/init/pg-apply";
import {
  clusterConfigDir,
  ctlCluster,
  parseClusters,
  pickCluster,
  type PgCluster,
} from "../../src/host/postgres/cluster";
import {
  ensureLoopbackHba,
  listenScript,
  mergeListen,
  parseState,
  psqlAsPostgres,
  roleScript,
  stateScript,
} from "../../src/init/pg-setup";
import { freePort } from "../support/ports";
import { randomSuffix } from "../support/tmp";

const LS = `15  main    5432 down   postgres /var/lib/postgresql/15/main /var/log/postgresql/postgresql-15-main.log
16  other   5433 online postgres /var/lib/postgresql/16/other /var/log/postgresql/postgresql-16-other.log
`;

describe("planners", () => {
  test("pg_lsclusters rows, and the online cluster wins", () => {
    const list = parseClusters(LS);
    expect(list).toEqual([
      { version: "15", name: "main", port: 5432, online: false, owner: "postgres" },
      { version: "16", name: "other", port: 5433, online: true, owner: "postgres" },
    ]);
    expect(pickCluster(list)?.name).toBe("other");
    expect(pickCluster([list[0]])?.name).toBe("main");
    expect(pickCluster([])).toBeNull();
    expect(clusterConfigDir(list[0])).toBe("/etc/postgresql/15/main");
    expect(ctlCluster(list[0], "restart").argv).toEqual(["pg_ctlcluster", "15", "main", "restart"]);
  });

  test("psql runs as the cluster owner, script on stdin, secrets redacted", () => {
    const c: PgCluster = { version: "15", name: "main", port: 5433, online: true, owner: "postgres" };
    const cmd = psqlAsPostgres(c, "SELECT 1;\n", ["v"]);
    expect(cmd.argv).toEqual([
      "runuser",
      "-u",
      "postgres",
      "--",
      "psql",
      "-X",
      "-q",
      "-At",
      "-v",
      "ON_ERROR_STOP=1",
      "-h",
      "/var/run/postgresql",
      "-p",
      "5433",
      "-d",
      "postgres",
      "-f",
      "-",
    ]);
    expect(cmd.stdin).toBe("SELECT 1;\n");
    expect(cmd.redact).toEqual(["v"]);
  });

  test("role script: never a superuser, the verifier not the password, quoted names", () => {
    const s = roleScript("odooops", false, "SCRAM-SHA-256$4096:x$y:z");
    expect(s.split("\n")[0]).toBe(
      "CREATE ROLE \"odooops\" WITH LOGIN CREATEDB CREATEROLE NOSUPERUSER NOREPLICATION NOBYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:x$y:z';",
    );
    expect(roleScript("odooops", true, null).split("\n")[0]).toBe(
      'ALTER ROLE "odooops" WITH LOGIN CREATEDB CREATEROLE NOSUPERUSER NOREPLICATION NOBYPASSRLS;',
    );
    expect(() => roleScript("x; DROP ROLE postgres", false, null)).toThrow(/invalid role name/);
    expect(listenScript("localhost,172.17.0.1")).toBe("ALTER SYSTEM SET listen_addresses = 'localhost,172.17.0.1';\n");
    expect(() => stateScript("a'b")).toThrow(/invalid role name/);
  });

  test("state answer", () => {
    expect(parseState("localhost|/etc/postgresql/15/main/pg_hba.conf|none\n")).toEqual({
      listenAddresses: "localhost",
      hbaFile: "/etc/postgresql/15/main/pg_hba.conf",
      role: null,
    });
    expect(parseState("*|/x|false").role).toEqual({ superuser: false });
    expect(() => parseState("garbage")).toThrow(/unexpected answer/);
  });

  test("listen_addresses: only what is missing is added", () => {
    expect(mergeListen("localhost", ["127.0.0.1", "172.17.0.1"])).toBe("localhost,172.17.0.1");
    expect(mergeListen("localhost,172.17.0.1", ["127.0.0.1", "172.17.0.1"])).toBeNull();
    expect(mergeListen("*", ["172.17.0.1"])).toBeNull();
    expect(mergeListen("0.0.0.0", ["172.17.0.1"])).toBeNull();
    expect(mergeListen("", ["127.0.0.1"])).toBe("localhost,127.0.0.1");
  });

  test("pg_hba: a loopback scram line for every role before the first rule, unless one already allows it", () => {
    const debian = "# comment\nlocal all postgres peer\nhost all all 127.0.0.1/32 scram-sha-256\n";
    expect(ensureLoopbackHba(debian)).toBeNull();
    const peerOnly = "# comment\nlocal all postgres peer\nlocal all all peer\n";
    const fixed =
      "# comment\nhost all all 127.0.0.1/32 scram-sha-256 # odooops init: the daemon and env roles log in over loopback\nlocal all postgres peer\nlocal all all peer\n";
    expect(ensureLoopbackHba(peerOnly)).toBe(fixed);
    expect(ensureLoopbackHba(fixed)).toBeNull();
    // A reject (or a line for one role only) does not count: the new line goes first.
    expect(ensureLoopbackHba("host all all 127.0.0.1/32 reject\n")?.split("\n")[0]).toStartWith(
      "host all all 127.0.0.1/32 scram-sha-256",
    );
    expect(ensureLoopbackHba("host all odooops 127.0.0.1/32 scram-sha-256\n")?.split("\n")[0]).toStartWith(
      "host all all 127.0.0.1/32 scram-sha-256 #",
    );
  });

  test("where containers reach the host", async () => {
    expect(await containerAddresses("host.docker.internal", async () => "172.17.0.1")).toEqual(["172.17.0.1"]);
    expect(await containerAddresses("host.docker.internal", async () => null)).toEqual([]);
    expect(await containerAddresses("10.0.0.5")).toEqual(["10.0.0.5"]);
    expect(await containerAddresses("db.example")).toEqual([]);
  });
});

describe("a real Debian cluster", () => {
  const name = `t${randomSuffix(8)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "x")}`;
  let cluster: PgCluster;
  const defaults = ConfigSchema.parse({}).postgres;
  const hbaFile = `/etc/postgresql/15/${name}/pg_hba.conf`;

  beforeAll(async () => {
    const port = await freePort();
    await run({ argv: ["pg_createcluster", "15", name, "-p", String(port)], timeoutMs: 120_000 });
    // Stock Debian pg_hba plus nothing: peer on the socket, scram on loopback.
    cluster = { version: "15", name, port, online: false, owner: "postgres" };
  }, 180_000);

  afterAll(async () => {
    await run({ argv: ["pg_dropcluster", "--stop", "15", name], timeoutMs: 120_000 }, { nothrow: true });
  }, 180_000);

  let first: Awaited<ReturnType<typeof setupPostgres>>;

  test("a stopped peer-only cluster: started, role odooops over 127.0.0.1, listening on docker0", async () => {
    // The default config (user postgres on the socket) cannot log in as root: peer auth.
    expect((await probePostgres({ ...defaults, port: cluster.port })).ok).toBe(false);
    const steps: string[] = [];
    first = await setupPostgres(cluster, { current: defaults, resetPassword: false, onStep: (m) => steps.push(m) });
    if (first.status !== "configured") throw new Error(JSON.stringify(first));
    expect(steps[0]).toBe(`started PostgreSQL 15/${name} (pg_ctlcluster 15 ${name} start)`);
    expect(steps[1]).toBe("created PostgreSQL role odooops (CREATEDB CREATEROLE, not a superuser)");
    expect(first.postgres).toMatchObject({ host: "127.0.0.1", port: cluster.port, user: "odooops", hbaFile });
    expect(first.postgres.password).toHaveLength(32);

    const p = await probePostgres(first.postgres);
    if (!p.ok) throw new Error(p.error);
    expect(p).toMatchObject({ superuser: false, createRole: true, createDb: true, hbaErrors: [] });
    expect(p.hbaFile).toBe(hbaFile);
    const docker0 = await containerAddresses("host.docker.internal");
    expect(docker0).toHaveLength(1);
    expect(p.listenAddresses?.split(",")).toContain(docker0[0]);
    expect(readFileSync(`/etc/postgresql/15/${name}/postgresql.conf`, "utf8")).not.toContain("172.17");
  }, 180_000);

  test("the non-superuser admin does what env create and delete need: role, database, drop", async () => {
    if (first.status !== "configured") throw new Error("setup failed");
    const sql = pgAdmin(first.postgres);
    try {
      expect(await createRole(sql, "odoo_pgsetup", "pw-pgsetup-123")).toBe("created");
      expect(await createDatabase(sql, "odoo_pgsetup", "odoo_pgsetup")).toBe("created");
      await dropDatabase(sql, "odoo_pgsetup");
      await dropRole(sql, "odoo_pgsetup");
      const [row] = await sql<
        { n: number }[]
      >`SELECT count(*)::int AS n FROM pg_database WHERE datname = 'odoo_pgsetup'`;
      expect(row?.n).toBe(0);
    } finally {
      await sql.close();
    }
  }, 60_000);

  test("a rerun with the written config changes nothing", async () => {
    if (first.status !== "configured") throw new Error("setup failed");
    const hbaBefore = readFileSync(hbaFile, "utf8");
    const again = await setupPostgres(
      { ...cluster, online: true },
      { current: first.postgres, resetPassword: true, onStep: () => undefined },
    );
    expect(again).toMatchObject({ status: "configured", done: [] });
    if (again.status === "configured") expect(again.postgres.password).toBe(first.postgres.password);
    expect(readFileSync(hbaFile, "utf8")).toBe(hbaBefore);
  }, 60_000);

  test("role exists, config without its password: no reset without consent; with it, a new password", async () => {
    if (first.status !== "configured") throw new Error("setup failed");
    const refused = await setupPostgres(
      { ...cluster, online: true },
      { current: defaults, resetPassword: false, onStep: () => undefined },
    );
    expect(refused.status).toBe("manual");
    if (refused.status === "manual")
      expect(refused.reason).toContain("role odooops exists but the config has no working password");
    expect((await probePostgres(first.postgres)).ok).toBe(true);

    const reset = await setupPostgres(
      { ...cluster, online: true },
      { current: defaults, resetPassword: true, onStep: () => undefined },
    );
    if (reset.status !== "configured") throw new Error(JSON.stringify(reset));
    expect(reset.done).toEqual([
      "reset the password of PostgreSQL role odooops (CREATEDB CREATEROLE, not a superuser)",
    ]);
    expect(reset.postgres.password).not.toBe(first.postgres.password);
    expect((await probePostgres(reset.postgres)).ok).toBe(true);
    expect((await probePostgres(first.postgres)).ok).toBe(false);
  }, 60_000);
});
