/**
 * The pg-tenant doctor check: which pg_hba rule an env role meets where the daemon opens tenant
 * sessions, on rules as PostgreSQL reports them, and once against a real server.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ConfigSchema } from "../../src/config/schema";
import { makeContext } from "../../src/doctor/context";
import { runCheck } from "../../src/doctor/check";
import { pgTenantCheck, tenantHbaRule } from "../../src/doctor/pg-tenant";
import type { HbaRule } from "../../src/host/postgres";
import { resolvePaths } from "../../src/config/paths";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { makeTempDir, removeTempDir } from "../support/tmp";

const rule = (
  line: number,
  type: string,
  auth: string,
  address: string | null = null,
  netmask: string | null = null,
  databases = ["all"],
  users = ["all"],
): HbaRule => ({
  line,
  type,
  databases,
  users,
  address,
  netmask,
  auth,
});

/** Debian's default pg_hba.conf, plus odooops' block (one line per env database, its docker subnet). */
const DEBIAN: HbaRule[] = [
  rule(1, "local", "peer", null, null, ["all"], ["postgres"]),
  rule(2, "local", "peer"),
  rule(3, "host", "scram-sha-256", "127.0.0.1", "255.255.255.255"),
  rule(4, "host", "scram-sha-256", "::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
  rule(5, "host", "scram-sha-256", "172.18.0.0", "255.255.0.0", ["odoo_shop", "postgres"], ["odoo_shop"]),
];

describe("tenantHbaRule", () => {
  test("Debian's defaults: loopback TCP asks for a password, the socket is peer", () => {
    expect(tenantHbaRule(DEBIAN, "127.0.0.1")?.line).toBe(3);
    expect(tenantHbaRule(DEBIAN, "/var/run/postgresql")).toMatchObject({ line: 2, auth: "peer" });
  });

  test("an earlier reject wins; rules for some databases or users only do not count; no rule at all is null", () => {
    expect(tenantHbaRule([rule(1, "host", "reject", "127.0.0.0", "255.0.0.0"), ...DEBIAN], "127.0.0.1")).toMatchObject({
      line: 1,
      auth: "reject",
    });
    expect(
      tenantHbaRule([rule(1, "host", "trust", "127.0.0.1", "255.255.255.255", ["odoo_x"]), ...DEBIAN], "127.0.0.1")
        ?.line,
    ).toBe(3);
    expect(
      tenantHbaRule([rule(1, "hostssl", "scram-sha-256", "127.0.0.1", "255.255.255.255")], "127.0.0.1"),
    ).toBeNull();
    expect(tenantHbaRule([rule(1, "host", "md5", "all")], "10.1.2.3")?.line).toBe(1);
  });
});

describe("pg-tenant against a real server", () => {
  let pg: TestPostgres;
  let root: string;
  beforeAll(async () => {
    pg = await startPostgres({ dockerAccess: false });
    root = makeTempDir("odooops-pgtenant-");
  }, 120_000);
  afterAll(async () => {
    await pg?.stop();
    if (root) removeTempDir(root);
  }, 120_000);

  const check = (postgres: Record<string, unknown>) =>
    runCheck(
      pgTenantCheck,
      makeContext({
        paths: resolvePaths(root),
        config: ConfigSchema.parse({
          postgres: {
            host: pg.host,
            port: pg.port,
            user: pg.user,
            password: pg.password,
            hbaFile: pg.hbaFile,
            ...postgres,
          },
        }),
      }),
    );

  test("loopback with scram passes; the socket (trust in the test cluster) warns and says how to fix it", async () => {
    expect(await check({})).toMatchObject({
      status: "pass",
      message: "env roles log in from 127.0.0.1 with scram-sha-256 (pg_hba line 3)",
    });
    // An admin on the socket: env roles go to 127.0.0.1 unless tenantHost says otherwise.
    expect(await check({ host: pg.socketDir })).toMatchObject({ status: "pass" });
    const socket = await check({ host: pg.socketDir, tenantHost: pg.socketDir });
    expect(socket.status).toBe("warn");
    expect(socket.message).toBe(`pg_hba line 2 trusts every role from ${pg.socketDir} (no password)`);
    const far = await check({ tenantHost: "10.9.8.7" });
    expect(far).toMatchObject({ status: "fail" });
    expect(far.hint).toBe(
      "add host all all 10.9.8.7/32 scram-sha-256 to pg_hba.conf before the end and reload PostgreSQL",
    );
  }, 120_000);
});
