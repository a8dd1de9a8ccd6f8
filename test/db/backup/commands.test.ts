import { describe, expect, test } from "bun:test";
import { apparentSize, chownRecursive, pgDump, pgDumpVersion, pgRestore, tarCreate, tarExtract, type PgAdmin } from "../../../src/db/backup/commands";

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
    expect(pgDump(pg, "odoo_shop", { compress: 1, snapshot: "00000003-0000001B-1", pgBinDir: "/usr/lib/postgresql/16/bin" }).argv).toEqual([
      "/usr/lib/postgresql/16/bin/pg_dump", "-Fc", ...conn, "-d", "odoo_shop", "-Z", "1", "--snapshot=00000003-0000001B-1",
    ]);
    expect(pgDump(pg, "odoo_shop", { compress: 0 }).argv).toEqual(["pg_dump", "-Fc", ...conn, "-d", "odoo_shop", "-Z", "0"]);
  });

  test("a database or role name that libpq would read as a connection string is refused", () => {
    expect(() => pgDump(pg, "host=evil dbname=x")).toThrow(/database/);
    expect(() => pgDump(pg, "x;rm -rf /")).toThrow(/database/);
    expect(() => pgRestore(pg, "odoo_shop", { role: "a role" })).toThrow(/role/);
  });

  test("pg_restore: no owners or privileges from the dump, objects made as the env's role; -j only with a file", () => {
    expect(pgRestore(pg, "odoo_new", { role: "odoo_shop" }).argv).toEqual([
      "pg_restore", ...conn, "-d", "odoo_new", "--no-owner", "--no-privileges", "--role=odoo_shop",
    ]);
    expect(pgRestore(pg, "odoo_new", { role: "odoo_shop", jobs: 4 }).argv).not.toContain("-j");
    expect(pgRestore(pg, "odoo_new", { role: "odoo_shop", jobs: 4, file: "/work/db.dump" }).argv).toEqual([
      "pg_restore", ...conn, "-d", "odoo_new", "--no-owner", "--no-privileges", "--role=odoo_shop", "-j", "4", "/work/db.dump",
    ]);
    expect(pgRestore(pg, "odoo_new", { role: "odoo_shop", jobs: 1, file: "/work/db.dump" }).argv).not.toContain("-j");
    expect(pgRestore(pg, "odoo_new", { role: "odoo_shop" }).env?.PGAPPNAME).toBe("odooops-restore");
  });

  test("tar: relative paths, numeric owners, one filesystem; extraction owned by root; exit 1 (a file changed while read) is not a failure", () => {
    const c = tarCreate("/srv/filestore/odoo_shop");
    expect(c.argv).toEqual(["tar", "-C", "/srv/filestore/odoo_shop", "--numeric-owner", "--one-file-system", "-cf", "-", "."]);
    expect(c.okExitCodes).toEqual([1]);
    expect(tarCreate(null).argv).toEqual(["tar", "-cf", "-", "-T", "/dev/null"]);
    expect(tarExtract("/srv/new").argv).toEqual(["tar", "-C", "/srv/new", "--no-same-owner", "-xf", "-"]);
    expect(apparentSize("/proc/1/fd/9").argv).toEqual(["du", "-sbx", "--", "/proc/1/fd/9/."]);
    expect(chownRecursive("/srv/new", 101, 101).argv).toEqual(["chown", "-R", "101:101", "/srv/new"]);
    expect(pgDumpVersion().argv).toEqual(["pg_dump", "--version"]);
  });
});
