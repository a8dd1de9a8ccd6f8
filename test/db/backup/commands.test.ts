import { describe, expect, test } from "bun:test";
import {
  apparentSize,
  chownRecursive,
  pgDump,
  pgDumpVersion,
  pgRestore,
  tarCreate,
  tarExtract,
  type PgAdmin,
} from "../../../src/db/backup/commands";
import { tenantHost } from "../../../src/host/postgres/tenant";

const pg: PgAdmin = { host: "db.example", port: 5433, user: "odooops", password: "s3cret-pw" };
const conn = ["-h", "db.example", "-p", "5433", "-U", "odooops", "--no-password"];

describe("backup commands", () => {
  test("pg_dump: custom format, connection flags, the password only in the environment", () => {
    const c = pgDump(pg, "odoo_shop");
    expect(c.argv).toEqual(["pg_dump", "-Fc", ...conn, "-d", "odoo_shop"]);
    expect(c.env).toEqual({ PGPASSWORD: "s3cret-pw", PGCONNECT_TIMEOUT: "15", PGAPPNAME: "odooops-backup" });
    expect(c.redact).toEqual(["s3cret-pw"]);
    expect(c.argv.join(" ")).not.toContain("s3cret-pw");
  });

  test("pg_dump: level, then snapshot; pg_dump from pgBinDir", () => {
    expect(
      pgDump(pg, "odoo_shop", { compress: 1, snapshot: "00000003-0000001B-1", pgBinDir: "/usr/lib/postgresql/16/bin" })
        .argv,
    ).toEqual([
      "/usr/lib/postgresql/16/bin/pg_dump",
      "-Fc",
      ...conn,
      "-d",
      "odoo_shop",
      "-Z",
      "1",
      "--snapshot=00000003-0000001B-1",
    ]);
    expect(pgDump(pg, "odoo_shop", { compress: 0 }).argv).toEqual([
      "pg_dump",
      "-Fc",
      ...conn,
      "-d",
      "odoo_shop",
      "-Z",
      "0",
    ]);
  });

  test("a database or role name that libpq would read as a connection string is refused", () => {
    expect(() => pgDump(pg, "host=evil dbname=x")).toThrow(/database/);
    expect(() => pgDump(pg, "x;rm -rf /")).toThrow(/database/);
    expect(() => pgRestore(pg, "a db")).toThrow(/database/);
  });

  test("pg_restore: logged in as the env's own role (no --role / SET ROLE), no owners or privileges from the dump; -j only with a file", () => {
    const asEnv = { host: "db.example", port: 5433, user: "odoo_shop", password: "env-pw" };
    const envConn = ["-h", "db.example", "-p", "5433", "-U", "odoo_shop", "--no-password"];
    expect(pgRestore(asEnv, "odoo_new").argv).toEqual([
      "pg_restore",
      ...envConn,
      "-d",
      "odoo_new",
      "--no-owner",
      "--no-privileges",
    ]);
    expect(pgRestore(asEnv, "odoo_new").env).toEqual({
      PGPASSWORD: "env-pw",
      PGCONNECT_TIMEOUT: "15",
      PGAPPNAME: "odooops-restore",
    });
    expect(pgRestore(asEnv, "odoo_new").redact).toEqual(["env-pw"]);
    expect(pgRestore(asEnv, "odoo_new", { jobs: 4 }).argv).not.toContain("-j");
    expect(pgRestore(asEnv, "odoo_new", { jobs: 4, file: "/work/db.dump" }).argv).toEqual([
      "pg_restore",
      ...envConn,
      "-d",
      "odoo_new",
      "--no-owner",
      "--no-privileges",
      "-j",
      "4",
      "/work/db.dump",
    ]);
    expect(pgRestore(asEnv, "odoo_new", { jobs: 1, file: "/work/db.dump" }).argv).not.toContain("-j");
    expect(pgRestore(asEnv, "odoo_new").argv.some((a) => a.startsWith("--role"))).toBe(false);
  });

  test("the env's own role reaches the admin's server over TCP: a unix socket would mean peer auth as root", () => {
    expect(tenantHost(pg)).toBe("db.example");
    expect(tenantHost({ ...pg, host: "/var/run/postgresql" })).toBe("127.0.0.1");
    expect(tenantHost({ ...pg, host: "/var/run/postgresql", tenantHost: "10.0.0.5" })).toBe("10.0.0.5");
  });

  test("tar: relative paths, numeric owners, one filesystem; extraction owned by root; exit 1 (a file changed while read) is not a failure", () => {
    const c = tarCreate("/srv/filestore/odoo_shop");
    expect(c.argv).toEqual([
      "tar",
      "-C",
      "/srv/filestore/odoo_shop",
      "--numeric-owner",
      "--one-file-system",
      "-cf",
      "-",
      ".",
    ]);
    expect(c.okExitCodes).toEqual([1]);
    expect(tarCreate(null).argv).toEqual(["tar", "-cf", "-", "-T", "/dev/null"]);
    expect(tarExtract("/srv/new").argv).toEqual(["tar", "-C", "/srv/new", "--no-same-owner", "-xf", "-"]);
    expect(apparentSize("/proc/1/fd/9").argv).toEqual(["du", "-sbx", "--", "/proc/1/fd/9/."]);
    expect(chownRecursive("/srv/new", 101, 101).argv).toEqual(["chown", "-R", "101:101", "/srv/new"]);
    expect(pgDumpVersion().argv).toEqual(["pg_dump", "--version"]);
  });
});
