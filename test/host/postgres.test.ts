import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Conflict, Invalid } from "../../src/errors";
import {
  HBA_BEGIN,
  HBA_END,
  assertIdent,
  createDatabase,
  createRole,
  databaseExists,
  databaseSize,
  dropDatabase,
  dropRole,
  hbaLine,
  listDatabases,
  listRoles,
  pgAdmin,
  pgConnect,
  quoteIdent,
  quoteLiteral,
  readHbaEntries,
  removeHbaEntry,
  removeHbaEntryText,
  replaceHbaFile,
  roleExists,
  scramVerifier,
  setHbaEntry,
  upsertHbaEntry,
} from "../../src/host/postgres";
import { ConfigSchema } from "../../src/config/schema";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";

/** bunfig's [test] timeout is not applied by bun 1.4.5: integration steps say it themselves. */
const SLOW = 120_000;

describe("postgres quoting", () => {
  test(
    "identifiers are validated strictly, then quoted",
    () => {
      expect(assertIdent("odoo_shop_staging")).toBe("odoo_shop_staging");
      expect(quoteIdent("odoo_x")).toBe('"odoo_x"');
      expect(quoteIdent("_a1")).toBe('"_a1"');
      for (const bad of ["Odoo", "1abc", 'a"b', "a-b", "a b", "", "x".repeat(64), "a;drop"]) {
        expect(() => quoteIdent(bad)).toThrow(Invalid);
      }
      expect(assertIdent("x".repeat(63))).toHaveLength(63);
    },
    SLOW,
  );

  test(
    "literals double quotes, keep backslashes, refuse NUL",
    () => {
      expect(quoteLiteral("it's")).toBe("'it''s'");
      expect(quoteLiteral("a\\b")).toBe("'a\\b'");
      expect(quoteLiteral("''")).toBe("''''''");
      expect(() => quoteLiteral("a\0b")).toThrow(Invalid);
    },
    SLOW,
  );

  test(
    "SCRAM verifier matches the RFC 5802 derivation (cross-checked with Python hashlib)",
    () => {
      const salt = Buffer.from(Array.from({ length: 16 }, (_, i) => i));
      expect(scramVerifier("secret-pw", salt)).toBe(
        "SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==$CF5+Jeu4faqXLp8UQ/yhkfoGrbvOanpG/PUWu4IVOfE=:X1jEGF8+r2oiNlZPg9sHmXEXe908pQtjZMnJppyY/wQ=",
      );
      expect(() => scramVerifier("")).toThrow(Invalid);
      expect(() => scramVerifier("pässword")).toThrow(Invalid);
      expect(() => scramVerifier("a\nb")).toThrow(Invalid);
    },
    SLOW,
  );
});

describe("pg_hba block (pure)", () => {
  const admin = "# admin's file\nlocal all all peer\nhost all all 127.0.0.1/32 scram-sha-256\n";
  const a = { db: "odoo_a", role: "odoo_a", cidr: "172.16.0.0/12" };
  const b = { db: "odoo_b", role: "odoo_b", cidr: "172.16.0.0/12", extraDbs: ["postgres"] };

  test(
    "hbaLine",
    () => {
      expect(hbaLine(a)).toBe("host odoo_a odoo_a 172.16.0.0/12 scram-sha-256");
      expect(hbaLine(b)).toBe("host odoo_b,postgres odoo_b 172.16.0.0/12 scram-sha-256");
      expect(hbaLine({ ...a, cidr: "fd00::/8" })).toBe("host odoo_a odoo_a fd00::/8 scram-sha-256");
      for (const cidr of ["172.16.0.0", "300.1.1.1/8", "all", "172.16.0.0/33", "1.2.3.4/8 trust"]) {
        expect(() => hbaLine({ ...a, cidr })).toThrow(Invalid);
      }
      expect(() => hbaLine({ ...a, db: "all,odoo_b" })).toThrow(Invalid);
      expect(() => hbaLine({ ...a, extraDbs: ["x y"] })).toThrow(Invalid);
      // A rotation's login alias shares the env's line, and reads back as it was written.
      const aliased = { ...b, extraRoles: ["odoo_b_rot"] };
      expect(hbaLine(aliased)).toBe("host odoo_b,postgres odoo_b,odoo_b_rot 172.16.0.0/12 scram-sha-256");
      expect(readHbaEntries(upsertHbaEntry("", aliased))).toEqual([aliased]);
      expect(() => hbaLine({ ...a, extraRoles: ["+odoo_a"] })).toThrow(Invalid);
    },
    SLOW,
  );

  test(
    "first entry appends the block; the admin's text is kept byte for byte",
    () => {
      expect(upsertHbaEntry(admin, b)).toBe(
        `${admin}${HBA_BEGIN}\nhost odoo_b,postgres odoo_b 172.16.0.0/12 scram-sha-256\n${HBA_END}\n`,
      );
      expect(upsertHbaEntry("", a)).toBe(`${HBA_BEGIN}\nhost odoo_a odoo_a 172.16.0.0/12 scram-sha-256\n${HBA_END}\n`);
      expect(upsertHbaEntry("local all all peer", a)).toStartWith("local all all peer\n# BEGIN");
    },
    SLOW,
  );

  test(
    "entries are sorted, replaced per db, removed; the block stays where it is",
    () => {
      const moved = `# top\n${HBA_BEGIN}\n${hbaLine(b)}\n${HBA_END}\nhost all all 0.0.0.0/0 reject\n`;
      const withA = upsertHbaEntry(moved, a);
      expect(withA).toBe(
        `# top\n${HBA_BEGIN}\n${hbaLine(a)}\n${hbaLine(b)}\n${HBA_END}\nhost all all 0.0.0.0/0 reject\n`,
      );
      const replaced = upsertHbaEntry(withA, { ...a, cidr: "10.0.0.0/8" });
      expect(replaced).toContain("host odoo_a odoo_a 10.0.0.0/8 scram-sha-256\nhost odoo_b");
      expect(replaced).not.toContain("host odoo_a odoo_a 172.16.0.0/12");
      expect(readHbaEntries(replaced)).toEqual([{ ...a, cidr: "10.0.0.0/8" }, b]);
      expect(upsertHbaEntry(replaced, { ...a, cidr: "10.0.0.0/8" })).toBe(replaced);
      const noA = removeHbaEntryText(replaced, "odoo_a");
      expect(noA).toBe(moved);
      expect(removeHbaEntryText(noA, "odoo_b")).toBe("# top\nhost all all 0.0.0.0/0 reject\n");
      expect(removeHbaEntryText(admin, "odoo_zz")).toBe(admin);
    },
    SLOW,
  );

  test(
    "foreign lines inside the block and damaged markers are refused, not dropped",
    () => {
      expect(() => upsertHbaEntry(`${HBA_BEGIN}\nhost all all 0.0.0.0/0 trust\n${HBA_END}\n`, a)).toThrow(Invalid);
      expect(() => upsertHbaEntry(`${HBA_BEGIN}\n${hbaLine(b)}\n`, a)).toThrow(Invalid);
      expect(() => upsertHbaEntry(`${HBA_END}\n${HBA_BEGIN}\n`, a)).toThrow(Invalid);
      expect(() => upsertHbaEntry(`${HBA_BEGIN}\n${HBA_END}\n${HBA_BEGIN}\n${HBA_END}\n`, a)).toThrow(Invalid);
      expect(readHbaEntries(`${HBA_BEGIN}\n# note\n\n${hbaLine(a)}\n${HBA_END}\n`)).toEqual([a]);
    },
    SLOW,
  );
});

describe("postgres ops against a real cluster", () => {
  let pg: TestPostgres;
  let sql: SQL;
  const opened: SQL[] = [];
  const sfx = randomSuffix();
  const roleA = `odoo_t${sfx}_a`;
  const roleB = `odoo_t${sfx}_b`;
  const pwA = `A-${randomSuffix(16)}'\\x`;
  const pwB = `B-${randomSuffix(16)}`;

  const connectAs = (user: string, password: string, database: string) => {
    const s = pgConnect({ host: pg.host, port: pg.port, user, password, database });
    opened.push(s);
    return s;
  };

  beforeAll(async () => {
    pg = await startPostgres();
    sql = pgConnect({ host: pg.host, port: pg.port, user: pg.user, password: pg.password });
  }, SLOW);

  afterAll(async () => {
    for (const s of opened) await s.close().catch(() => undefined);
    await sql?.close().catch(() => undefined);
    await pg?.stop();
  }, SLOW);

  test(
    "pgAdmin connects through a unix socket directory",
    async () => {
      const cfg = ConfigSchema.parse({
        postgres: { host: pg.socketDir, port: pg.port, user: "postgres", password: pg.password },
      });
      const admin = pgAdmin(cfg.postgres);
      opened.push(admin);
      const [row] = await admin<{ addr: string | null }[]>`SELECT inet_client_addr()::text AS addr`;
      expect(row.addr).toBeNull(); // null = unix socket
    },
    SLOW,
  );

  test(
    "createRole is idempotent, sends no plaintext and gives no admin power",
    async () => {
      expect(await createRole(sql, roleA, "first-password")).toBe("created");
      expect(await createRole(sql, roleA, pwA)).toBe("updated");
      expect(await createRole(sql, roleB, pwB)).toBe("created");
      const [r] =
        await sql`SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = ${roleA}`;
      expect(r).toEqual({ rolcanlogin: true, rolsuper: false, rolcreatedb: false, rolcreaterole: false });
      const [p] = await sql<{ pw: string }[]>`SELECT rolpassword AS pw FROM pg_authid WHERE rolname = ${roleA}`;
      expect(p.pw).toStartWith("SCRAM-SHA-256$4096:");
      await expect(createRole(sql, "postgres", "whatever-pw")).rejects.toBeInstanceOf(Conflict);
      await expect(createRole(sql, "Bad-Name", "whatever-pw")).rejects.toBeInstanceOf(Invalid);
    },
    SLOW,
  );

  test(
    "createDatabase is idempotent, UTF8/C from template0, owned by the role",
    async () => {
      expect(await createDatabase(sql, roleA, roleA)).toBe("created");
      expect(await createDatabase(sql, roleA, roleA)).toBe("exists");
      expect(await createDatabase(sql, roleB, roleB)).toBe("created");
      const [d] = await sql`
      SELECT pg_encoding_to_char(encoding) AS enc, datcollate, datctype, pg_get_userbyid(datdba) AS owner
      FROM pg_database WHERE datname = ${roleA}`;
      expect(d).toEqual({ enc: "UTF8", datcollate: "C", datctype: "C", owner: roleA });
      await expect(createDatabase(sql, roleA, roleB)).rejects.toBeInstanceOf(Conflict);
    },
    SLOW,
  );

  test(
    "the owner logs in with the new password; the old one is refused",
    async () => {
      const [row] = await connectAs(roleA, pwA, roleA)<{ u: string }[]>`SELECT current_user AS u`;
      expect(row.u).toBe(roleA);
      await expect(connectAs(roleA, "first-password", roleA)`SELECT 1`).rejects.toThrow(
        /password authentication failed/,
      );
    },
    SLOW,
  );

  test(
    "REVOKE CONNECT: role A cannot open database B (a real connection attempt)",
    async () => {
      await expect(connectAs(roleA, pwA, roleB)`SELECT 1`).rejects.toThrow(/permission denied for database/);
      await expect(connectAs(roleB, pwB, roleA)`SELECT 1`).rejects.toThrow(/permission denied for database/);
      const [row] = await connectAs(roleB, pwB, roleB)<{ d: string }[]>`SELECT current_database() AS d`;
      expect(row.d).toBe(roleB);
    },
    SLOW,
  );

  test(
    "size and listings",
    async () => {
      expect(await databaseSize(sql, roleA)).toBeGreaterThan(1_000_000);
      expect(await databaseSize(sql, `odoo_t${sfx}_missing`)).toBeNull();
      expect(await listDatabases(sql, `odoo_t${sfx}_`)).toEqual([roleA, roleB]);
      expect(await listRoles(sql, `odoo_t${sfx}_`)).toEqual([roleA, roleB]);
      expect(await listDatabases(sql, "odoo_%")).toEqual([]); // prefix is not a LIKE pattern
    },
    SLOW,
  );

  test(
    "pg_hba block: written, parsed by PostgreSQL, reloaded, removed",
    async () => {
      const original = readFileSync(pg.hbaFile, "utf8");
      const before = statSync(pg.hbaFile);
      const entry = { db: roleA, role: roleA, cidr: "172.16.0.0/12", extraDbs: ["postgres"] };
      await setHbaEntry(sql, pg.hbaFile, entry);
      await setHbaEntry(sql, pg.hbaFile, entry);
      const text = readFileSync(pg.hbaFile, "utf8");
      expect(text).toBe(`${original}${HBA_BEGIN}\n${hbaLine(entry)}\n${HBA_END}\n`);
      const rules = await sql`
      SELECT database, user_name, address, netmask, auth_method FROM pg_hba_file_rules
      WHERE user_name = ARRAY[${roleA}]::text[]`;
      expect(rules).toEqual([
        {
          database: [roleA, "postgres"],
          user_name: [roleA],
          address: "172.16.0.0",
          netmask: "255.240.0.0",
          auth_method: "scram-sha-256",
        },
      ]);
      const st = statSync(pg.hbaFile); // the postmaster must still be able to read it
      expect([st.uid, st.gid, st.mode & 0o777]).toEqual([before.uid, before.gid, before.mode & 0o777]);
      const [fresh] = await connectAs(roleA, pwA, roleA)`SELECT 1 AS one`;
      expect(fresh.one).toBe(1);
      await removeHbaEntry(sql, pg.hbaFile, roleA);
      expect(readFileSync(pg.hbaFile, "utf8")).toBe(original);
      await setHbaEntry(sql, "", entry); // "" = unmanaged: no-op
      expect(readFileSync(pg.hbaFile, "utf8")).toBe(original);
    },
    SLOW,
  );

  test(
    "concurrent hba changes in one process do not lose each other's lines",
    async () => {
      const original = readFileSync(pg.hbaFile, "utf8");
      const dbs = ["odoo_c1", "odoo_c2", "odoo_c3"];
      await Promise.all(dbs.map((d) => setHbaEntry(sql, pg.hbaFile, { db: d, role: d, cidr: "10.0.0.0/8" })));
      expect(readHbaEntries(readFileSync(pg.hbaFile, "utf8")).map((e) => e.db)).toEqual(dbs);
      await Promise.all(dbs.map((d) => removeHbaEntry(sql, pg.hbaFile, d)));
      expect(readFileSync(pg.hbaFile, "utf8")).toBe(original);
    },
    SLOW,
  );

  test(
    "a file PostgreSQL rejects is restored and never loaded",
    async () => {
      const original = readFileSync(pg.hbaFile, "utf8");
      const bad = `${original}host all all 127.0.0.1/32 no-such-method\n`;
      const err = await replaceHbaFile(sql, pg.hbaFile, bad).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Invalid);
      expect(String((err as Error).message)).toMatch(
        /previous file restored: line \d+: invalid authentication method "no-such-method"/,
      );
      expect(readFileSync(pg.hbaFile, "utf8")).toBe(original);
      const [row] = await connectAs(roleB, pwB, roleB)`SELECT 1 AS one`;
      expect(row.one).toBe(1);
    },
    SLOW,
  );

  test(
    "editing a file the server does not read is refused",
    async () => {
      const dir = makeTempDir("odooops-hba-");
      try {
        const other = join(dir, "pg_hba.conf");
        writeFileSync(other, "local all all trust\n");
        await expect(setHbaEntry(sql, other, { db: roleA, role: roleA, cidr: "10.0.0.0/8" })).rejects.toBeInstanceOf(
          Invalid,
        );
        expect(readFileSync(other, "utf8")).toBe("local all all trust\n");
      } finally {
        removeTempDir(dir);
      }
    },
    SLOW,
  );

  test(
    "dropDatabase terminates sessions; drops are idempotent",
    async () => {
      const session = connectAs(roleA, pwA, roleA);
      await session`SELECT 1`;
      await dropDatabase(sql, roleA);
      await dropDatabase(sql, roleA);
      expect(await databaseExists(sql, roleA)).toBe(false);
      await dropDatabase(sql, roleB);
      await dropRole(sql, roleA);
      await dropRole(sql, roleA);
      await dropRole(sql, roleB);
      expect(await roleExists(sql, roleA)).toBe(false);
      await expect(dropRole(sql, "postgres")).rejects.toBeInstanceOf(Conflict);
      expect(await listRoles(sql, `odoo_t${sfx}_`)).toEqual([]);
    },
    SLOW,
  );
});
