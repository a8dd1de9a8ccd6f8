/** The anonymizing copy's planner and commands: exact SQL and argv, no database. */
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { inflateSync } from "node:zlib";
import {
  attachmentJoinsSql,
  contentColumnSql,
  contentUpdateSql,
  moduleDataSql,
} from "../../../src/db/anonymize/attachments";
import { copiedRows, copyIn, copyOut } from "../../../src/db/anonymize/commands";
import { fakeSql } from "../../../src/db/anonymize/fake";
import { PLACEHOLDERS } from "../../../src/db/anonymize/placeholders";
import { columnRuleSql, planCopy, type SourceTable } from "../../../src/db/anonymize/plan";
import { AnonymizeRulesSchema } from "../../../src/db/backup/anonymize";
import { pgDump, type PgAdmin } from "../../../src/db/backup/commands";
import { Invalid } from "../../../src/errors";

const col = (name: string, type = "character varying", nullable = true) => ({ name, type, nullable });
const partner: SourceTable = {
  name: "res_partner",
  columns: [col("id", "integer", false), col("name"), col("email"), col("phone"), col("active", "boolean")],
};
const rules = (tables: object) => AnonymizeRulesSchema.parse({ version: 1, tables });
const pg: PgAdmin = { host: "127.0.0.1", port: 5433, user: "odoo_prod", password: "src-pw" };
const conn = ["-h", "127.0.0.1", "-p", "5433", "-U", "odoo_prod", "--no-password"];
const SNAP = "00000003-0000001B-1";

describe("planCopy", () => {
  test("a ruled table: every column in order, the ruled ones as expressions; unruled tables and kept columns stay out", () => {
    const plan = planCopy(
      rules({
        res_partner: { columns: { email: { fake: "email" }, phone: { set: null }, name: { keep: true } } },
        res_users: { columns: { login: { fake: "login" } } },
      }),
      [partner, { name: "sale_order", columns: [col("id", "integer", false)] }],
    );
    expect(plan.transformed).toEqual([
      {
        table: "res_partner",
        columns: ["id", "name", "email", "phone", "active"],
        select: `SELECT "id", "name", ${fakeSql("email", { col: `"email"`, nullable: true, id: `"id"` })}, NULL, "active" FROM public."res_partner"`,
        changed: ["email", "phone"],
        attachments: false,
      },
    ]);
    expect(plan.skipped).toEqual(["res_users"]);
    expect(plan.devPassword).toBe(false);
  });

  test("templates and constants become quoted literals (COPY takes no parameters); the dev password a session setting", () => {
    const users: SourceTable = {
      name: "res_users",
      columns: [
        col("id", "integer", false),
        col("login", "character varying", false),
        col("password"),
        col("share", "boolean"),
      ],
    };
    const plan = planCopy(
      rules({
        res_users: {
          columns: {
            login: { template: "it's-{id}@x.invalid", onlyIfEmail: true },
            password: { devPassword: true },
            share: { set: true },
          },
        },
      }),
      [users],
    );
    expect(plan.transformed[0]?.select).toBe(
      `SELECT "id", CASE WHEN "login"::text LIKE '%@%' THEN 'it''s-' || "id"::text || '@x.invalid' ELSE "login"::text END, current_setting('odooops.dev_password'), 'true' FROM public."res_users"`,
    );
    expect(plan.devPassword).toBe(true);
  });

  test("a table whose every rule is keep is copied as it is; a rule for a missing column is reported", () => {
    const plan = planCopy(rules({ res_partner: { columns: { name: { keep: true }, fax: { set: null } } } }), [partner]);
    expect(plan.transformed).toEqual([]);
    expect(plan.skipped).toEqual(["res_partner.fax"]);
  });

  test("translated (jsonb) columns: the rule applies to the English text and yields {en_US: …}", () => {
    expect(columnRuleSql({ fake: "text" }, col("description", "jsonb"), new Set(["id", "description"]))).toBe(
      `CASE WHEN "description" IS NULL THEN NULL ELSE jsonb_build_object('en_US', ${fakeSql("text", { col: `("description"::jsonb ->> 'en_US')`, nullable: true, id: `"id"` })}) END`,
    );
  });

  test("refusals: a template naming a missing column, a login fake without id, an unquotable column", () => {
    expect(() => planCopy(rules({ res_partner: { columns: { email: { template: "{nope}@x" } } } }), [partner])).toThrow(
      Invalid,
    );
    expect(() =>
      planCopy(rules({ t: { columns: { login: { fake: "login" } } } }), [{ name: "t", columns: [col("login")] }]),
    ).toThrow(/needs an id column/);
    expect(() =>
      planCopy(rules({ t: { columns: { a: { set: null } } } }), [{ name: "t", columns: [col("a"), col("Bad")] }]),
    ).toThrow(Invalid);
  });

  test("ir_attachment is always transformed (content columns from the placeholders, rules on business rows only) unless switched off", () => {
    const att: SourceTable = {
      name: "ir_attachment",
      columns: [
        "id",
        "name",
        "res_model",
        "res_field",
        "res_id",
        "type",
        "store_fname",
        "checksum",
        "file_size",
        "mimetype",
        "db_datas",
      ].map((n) => col(n)),
    };
    const plan = planCopy(rules({ ir_attachment: { columns: { name: { set: "x" } } } }), [att]);
    const sel = plan.transformed[0]?.select ?? "";
    expect(
      sel.startsWith(
        `SELECT "id", CASE WHEN odooops_b.odooops_business THEN 'x' ELSE "name"::text END, "res_model", "res_field", "res_id", "type", ${contentColumnSql("store_fname")}, `,
      ),
    ).toBe(true);
    expect(sel).toContain(
      `FROM public."ir_attachment" CROSS JOIN LATERAL (SELECT NOT (${moduleDataSql({ modelData: false, url: false })}) AS odooops_business) odooops_b`,
    );
    expect(plan.transformed[0]?.changed).toEqual([
      "name",
      "store_fname",
      "checksum",
      "file_size",
      "mimetype",
      "db_datas",
    ]);
    expect(planCopy(rules({}), [att]).transformed.map((t) => t.table)).toEqual(["ir_attachment"]);
    expect(planCopy(rules({ ir_attachment: { enabled: false } }), [att]).transformed).toEqual([]);
  });

  test("module data: xml ids of real modules only when ir_model_data exists; asset urls when there is a url column", () => {
    expect(moduleDataSql({ modelData: false, url: false })).toBe(
      `coalesce("res_model" IN ('ir.ui.view', 'ir.ui.menu', 'ir.module.module', 'ir.qweb'), false) OR coalesce("name" LIKE '%.assets\\_%', false)`,
    );
    expect(moduleDataSql({ modelData: true, url: true })).toBe(
      `coalesce("res_model" IN ('ir.ui.view', 'ir.ui.menu', 'ir.module.module', 'ir.qweb'), false) OR coalesce("name" LIKE '%.assets\\_%', false) OR coalesce("url" LIKE '/web/assets/%', false) OR coalesce(EXISTS (SELECT 1 FROM public.ir_model_data odooops_d WHERE odooops_d.model = 'ir.attachment' AND odooops_d.res_id = "id" AND odooops_d.module NOT IN ('__export__', '__import__')), false)`,
    );
  });
});

describe("attachments in place (restores)", () => {
  test("one UPDATE of the content columns from the copy's own query, placeholder rows only", () => {
    const shape = { modelData: true, url: false };
    const cols = ["db_datas", "store_fname", "checksum", "file_size", "mimetype"];
    expect(
      contentUpdateSql(shape),
    ).toBe(`UPDATE public.ir_attachment AS odooops_t SET ${cols.map((c) => `"${c}" = odooops_s."${c}"`).join(", ")}
  FROM (SELECT "id" AS odooops_id, ${cols.map((c) => `${contentColumnSql(c)} AS "${c}"`).join(", ")}
          FROM public.ir_attachment ${attachmentJoinsSql(shape)} WHERE odooops_p.odooops_k IS NOT NULL) odooops_s
  WHERE odooops_t."id" = odooops_s.odooops_id`);
  });
});

describe("placeholders", () => {
  test("valid files of their kind, named by their sha1 as Odoo's filestore does", () => {
    for (const p of PLACEHOLDERS) {
      const sha = createHash("sha1").update(p.data).digest("hex");
      expect([p.key, p.sha1, p.storeFname]).toEqual([p.key, sha, `${sha.slice(0, 2)}/${sha}`]);
    }
    const pdf = PLACEHOLDERS.find((p) => p.key === "pdf")?.data.toString("latin1") ?? "";
    expect(pdf.startsWith("%PDF-1.4\n")).toBe(true);
    const xref = Number(/startxref\n(\d+)\n%%EOF\n$/.exec(pdf)?.[1]);
    expect(pdf.slice(xref, xref + 4)).toBe("xref");
    const obj3 = Number(/0000000000 65535 f \n\d{10} 00000 n \n\d{10} 00000 n \n(\d{10})/.exec(pdf)?.[1]);
    expect(pdf.slice(obj3, obj3 + 7)).toBe("3 0 obj");
    const png = PLACEHOLDERS.find((p) => p.key === "avatar2")?.data ?? Buffer.alloc(0);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([128, 128]);
    const idatLen = png.readUInt32BE(33);
    expect(inflateSync(png.subarray(41, 41 + idatLen)).length).toBe(128 * (1 + 128 * 3));
    expect(new Set(PLACEHOLDERS.map((p) => p.sha1)).size).toBe(PLACEHOLDERS.length);
  });
});

describe("commands", () => {
  test("copyOut: read-only, in the exported snapshot; key and password only in the environment", () => {
    const c = copyOut(pg, "odoo_prod", SNAP, "SELECT 1", { "odooops.anon_key": "abc123" });
    expect(c.argv).toEqual([
      "psql",
      "-X",
      "-q",
      "-v",
      "ON_ERROR_STOP=1",
      ...conn,
      "-d",
      "odoo_prod",
      "-c",
      "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
      "-c",
      `SET TRANSACTION SNAPSHOT '${SNAP}'`,
      "-c",
      "COPY (SELECT 1) TO STDOUT",
      "-c",
      "COMMIT",
    ]);
    expect(c.env).toEqual({
      PGPASSWORD: "src-pw",
      PGCONNECT_TIMEOUT: "15",
      PGAPPNAME: "odooops-anonymize",
      PGOPTIONS: "-c search_path=pg_catalog,pg_temp -c default_transaction_read_only=on -c odooops.anon_key=abc123",
    });
    expect(c.redact).toEqual(["src-pw", "abc123"]);
  });

  test("copyIn: COPY into public.<table> with its columns, as the copy's owner", () => {
    const c = copyIn(
      { ...pg, user: "odoo_stage", password: "stage-pw" },
      "odoo_stage_new",
      "res_partner",
      ["id", "email"],
      "/usr/lib/postgresql/15/bin",
    );
    expect(c.argv).toEqual([
      "/usr/lib/postgresql/15/bin/psql",
      "-X",
      "-v",
      "ON_ERROR_STOP=1",
      "-h",
      "127.0.0.1",
      "-p",
      "5433",
      "-U",
      "odoo_stage",
      "--no-password",
      "-d",
      "odoo_stage_new",
      "-c",
      `COPY public."res_partner" ("id", "email") FROM STDIN`,
    ]);
    expect(c.env?.PGOPTIONS).toBe("-c search_path=pg_catalog,pg_temp");
  });

  test("copiedRows: the count psql prints for COPY (not quiet), null without one", () => {
    expect(copiedRows("COPY 1234\n")).toBe(1234);
    expect(copiedRows("SET\nCOPY 0\n")).toBe(0);
    expect(copiedRows("")).toBeNull();
    expect(copiedRows("NOTICE: COPY 5 rows\n")).toBeNull();
  });

  test("refusals: a snapshot id that is not one, a setting PGOPTIONS would split, a bad table", () => {
    expect(() => copyOut(pg, "odoo_prod", "x'; DROP TABLE t; --", "SELECT 1", {})).toThrow(Invalid);
    expect(() => copyOut(pg, "odoo_prod", SNAP, "SELECT 1", { "odooops.anon_key": "a b" })).toThrow(Invalid);
    expect(() => copyOut(pg, "odoo_prod", SNAP, "SELECT 1", { "x -c y": "1" })).toThrow(Invalid);
    expect(() => copyIn(pg, "odoo_prod", "t; DROP", ["a"])).toThrow(Invalid);
    expect(() => pgDump(pg, "odoo_prod", { excludeTableData: ["*"] })).toThrow(Invalid);
  });

  test("pg_dump: sections and excluded table data after the snapshot", () => {
    expect(
      pgDump(pg, "odoo_prod", {
        compress: 0,
        snapshot: SNAP,
        sections: ["pre-data", "data"],
        excludeTableData: ["res_partner", "ir_attachment"],
      }).argv,
    ).toEqual([
      "pg_dump",
      "-Fc",
      ...conn,
      "-d",
      "odoo_prod",
      "-Z",
      "0",
      `--snapshot=${SNAP}`,
      "--section=pre-data",
      "--section=data",
      "--exclude-table-data=public.res_partner",
      "--exclude-table-data=public.ir_attachment",
    ]);
  });
});
