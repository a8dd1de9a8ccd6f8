/**
 * The default rules, detect and the dry run against a database the Odoo stand-in created itself
 * (`odoo -i base,mail` with demo data: its real Odoo 17 table and column names), on a private
 * PostgreSQL, read as the database's own role:
 * - every default rule's table.column exists there, or docs/anonymization.md says "not in the
 *   stand-in" for it (a typo cannot hide behind "skipped when missing");
 * - the dry run's counts equal an independent count, and the source is unchanged;
 * - detect finds custom personal columns (by name, by content), not the covered ones, and never
 *   returns a sampled value.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { mergeRuleLayers, parseRulesOverride } from "../../../src/db/anonymize-rules";
import { detectPersonalColumns } from "../../../src/db/anonymize/detect";
import { previewAnonymization } from "../../../src/db/anonymize/dry-run";
import { loadAnonymizeRules } from "../../../src/db/backup";
import { run } from "../../../src/exec/run";
import { docker } from "../../../src/host/docker";
import { createDatabase, createRole, pgConnect } from "../../../src/host/postgres";
import type { TenantLogin } from "../../../src/host/postgres/tenant";
import { removeByLabel, testLabel } from "../../support/docker";
import { startPostgres, type TestPostgres } from "../../support/postgres";
import { randomSuffix } from "../../support/tmp";

const SLOW = 300_000;
const d = docker({ binary: "docker" });
const label = testLabel();
const db = `odoo_anon_${randomSuffix()}`;
const password = `pw-${randomSuffix(20)}`;
let pg: TestPostgres;
let admin: SQL;
let owner: SQL;
let login: TenantLogin;

/** Every row of every public table, as text: "nothing changed" means this is equal. */
async function snapshot(): Promise<string> {
  const tables = await owner<
    { t: string }[]
  >`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`;
  const out: string[] = [];
  for (const { t } of tables) {
    const rows = await owner.unsafe<{ r: string }[]>(
      `SELECT md5(string_agg(x::text, '|' ORDER BY x::text)) AS r FROM public."${t}" x`,
    );
    out.push(`${t}:${rows[0]?.r ?? ""}`);
  }
  return out.join("\n");
}

beforeAll(async () => {
  pg = await startPostgres();
  if (!pg.dockerHost) throw new Error("docker0 has no address: is dockerd running?");
  admin = pgConnect({ host: pg.host, port: pg.port, user: pg.user, password: pg.password });
  await createRole(admin, db, password);
  await createDatabase(admin, db, db);
  // The stand-in creates its Odoo-shaped schema and demo data, as the database's own role.
  await run({
    ...d.run({
      image: "odooops-test/odoo:17.0",
      rm: true,
      labels: label.labels,
      env: { HOST: pg.dockerHost, PORT: String(pg.port), USER: db },
      secrets: { PASSWORD: password },
      args: ["-d", db, "-i", "base,mail", "--stop-after-init"],
    }),
    timeoutMs: 180_000,
  });
  login = { host: pg.host, port: pg.port, user: db, password, database: db };
  owner = pgConnect({ host: pg.host, port: pg.port, user: db, password, database: db });
  // A custom module's columns that look personal: one by its name, one only by its content.
  await owner`ALTER TABLE res_partner ADD COLUMN x_private_mail varchar, ADD COLUMN x_memo text`;
  await owner`UPDATE res_partner SET x_private_mail = 'p' || id || '@private.example', x_memo = 'call back on +32 475 12 34 ' || lpad(id::text, 2, '0') WHERE email IS NOT NULL`;
  await owner`CREATE TABLE x_loyalty (id serial PRIMARY KEY, holder_name varchar, level varchar)`;
  await owner`INSERT INTO x_loyalty (holder_name, level) VALUES ('Jane Roe', 'gold')`;
}, SLOW);

afterAll(async () => {
  await removeByLabel(`${label.key}=${label.value}`);
  await owner?.close().catch(() => undefined);
  await admin?.close().catch(() => undefined);
  await pg?.stop();
}, SLOW);

describe("the default rules against the stand-in's schema", () => {
  test("every rule's table.column is in the stand-in, or the doc lists it as not in the stand-in", async () => {
    const cols = await owner<{ t: string; c: string }[]>`
      SELECT table_name AS t, column_name AS c FROM information_schema.columns WHERE table_schema = 'public'`;
    const present = new Set(cols.map((r) => `${r.t}.${r.c}`));
    const doc = readFileSync(join(import.meta.dir, "../../../docs/anonymization.md"), "utf8");
    // The rule table: "| `table.column` | rule | … | yes |" or "… | not in the stand-in |".
    const rows = new Map<string, string>();
    for (const m of doc.matchAll(/^\| `([a-z0-9_]+\.[a-z0-9_]+)` \|.*\| (yes|not in the stand-in) \|$/gm))
      rows.set(m[1] ?? "", m[2] ?? "");
    const rules = loadAnonymizeRules();
    const problems: string[] = [];
    let inStandin = 0;
    for (const [table, t] of Object.entries(rules.tables)) {
      for (const column of Object.keys(t.columns)) {
        const key = `${table}.${column}`;
        const said = rows.get(key);
        if (said === undefined) problems.push(`${key}: no row in docs/anonymization.md`);
        else if (present.has(key) && said !== "yes") problems.push(`${key}: in the stand-in, the doc says "${said}"`);
        else if (!present.has(key) && said !== "not in the stand-in")
          problems.push(`${key}: not in the stand-in, the doc says "${said}"`);
        if (present.has(key)) inStandin++;
      }
    }
    // And no doc row for a rule that does not exist.
    for (const key of rows.keys()) {
      const [table, column] = key.split(".");
      if (!rules.tables[table ?? ""]?.columns[column ?? ""]) problems.push(`${key}: in the doc, not in the rules`);
    }
    expect(problems).toEqual([]);
    expect(inStandin).toBeGreaterThanOrEqual(30);
  });
});

describe("dry run", () => {
  test(
    "per table and column: the rows each rule would change, equal to an independent count; nothing changes",
    async () => {
      const before = await snapshot();
      const p = await previewAnonymization(login, loadAnonymizeRules());
      expect(await snapshot()).toBe(before);

      const partner = p.tables.find((t) => t.table === "res_partner");
      const [counts] = await owner<{ n: number; email: number; phone: number; street2: number }[]>`
      SELECT count(*)::int AS n, count(*) FILTER (WHERE email IS NOT NULL AND email <> '')::int AS email,
             count(*) FILTER (WHERE phone IS NOT NULL AND phone <> '')::int AS phone, count(street2)::int AS street2 FROM res_partner`;
      expect(partner?.rows).toBe(counts?.n ?? -1);
      const col = (c: string) => partner?.columns.find((x) => x.column === c);
      expect(col("email")).toEqual({ column: "email", rule: "fake", rows: counts?.email ?? -1 });
      expect(col("phone")).toEqual({ column: "phone", rule: "fake", rows: counts?.phone ?? -1 });
      expect(col("street2")).toEqual({ column: "street2", rule: "set", rows: counts?.street2 ?? -1 });
      expect(counts?.email).toBeGreaterThanOrEqual(8);

      // Logins: only those that are addresses change ("admin", "demo" stay).
      const users = p.tables.find((t) => t.table === "res_users");
      const [u] = await owner<
        { n: number; at: number; pw: number }[]
      >`SELECT count(*)::int AS n, count(*) FILTER (WHERE login LIKE '%@%')::int AS at, count(password)::int AS pw FROM res_users`;
      expect(users?.columns.find((c) => c.column === "login")).toEqual({
        column: "login",
        rule: "fake",
        rows: u?.at ?? -1,
      });
      expect(users?.columns.find((c) => c.column === "password")).toEqual({
        column: "password",
        rule: "devPassword",
        rows: u?.pw ?? -1,
      });

      // Tables of modules the stand-in does not have are reported, not errors.
      expect(p.skipped).toContain("crm_lead");
      expect(p.skipped).toContain("res_partner.email_normalized");
      // A table switched off is not counted; a kept column is not listed.
      const off = mergeRuleLayers([
        {
          override: parseRulesOverride(
            "tables:\n  mail_message:\n    enabled: false\n  res_partner:\n    columns:\n      email: { keep: true }\n",
            "r.yaml",
          ),
          source: "r.yaml",
        },
      ]);
      const q = await previewAnonymization(login, off.rules);
      expect(q.tables.some((t) => t.table === "mail_message")).toBe(false);
      expect(q.tables.find((t) => t.table === "res_partner")?.columns.some((c) => c.column === "email")).toBe(false);
    },
    SLOW,
  );
});

describe("detect", () => {
  test(
    "custom personal columns no rule covers, by name and by content; covered ones are not listed; no value leaves",
    async () => {
      const before = await snapshot();
      const r = await detectPersonalColumns(login, loadAnonymizeRules());
      expect(await snapshot()).toBe(before);
      const by = new Map(r.findings.map((f) => [`${f.table}.${f.column}`, f]));
      expect(by.get("res_partner.x_private_mail")?.reasons).toEqual([
        "name: e-mail",
        expect.stringMatching(/^content: \d+ of \d+ sampled values hold an e-mail address$/),
      ]);
      expect(by.get("res_partner.x_memo")?.reasons).toEqual([
        expect.stringMatching(/^content: \d+ of \d+ sampled values hold a phone number$/),
      ]);
      expect(by.get("x_loyalty.holder_name")?.reasons).toEqual(["name: name"]);
      expect(by.has("x_loyalty.level")).toBe(false);
      // Covered by a default rule: not a finding.
      for (const covered of ["res_partner.email", "res_partner.phone", "res_users.login", "mail_message.body"])
        expect(by.has(covered)).toBe(false);
      // Names and counts only: no sampled value in the report.
      const text = JSON.stringify(r);
      expect(text).not.toContain("@private.example");
      expect(text).not.toContain("475 12 34");
      expect(r.sampleRows).toBe(200);

      // A rule for them (or an exclusion) makes them go away.
      const more = mergeRuleLayers([
        {
          override: parseRulesOverride(
            "tables:\n  res_partner:\n    columns:\n      x_private_mail: { fake: email }\n      x_memo: { fake: text }\npiiCheck:\n  exclude: [x_loyalty.holder_name]\n",
            "more.yaml",
          ),
          source: "more.yaml",
        },
      ]);
      const after = new Set(
        (await detectPersonalColumns(login, more.rules)).findings.map((f) => `${f.table}.${f.column}`),
      );
      for (const gone of ["res_partner.x_private_mail", "res_partner.x_memo", "x_loyalty.holder_name"])
        expect(after.has(gone)).toBe(false);
    },
    SLOW,
  );

  test(
    "the sample is bounded: a table's rows past the sample are not read for content",
    async () => {
      await owner`CREATE TABLE x_big (id serial PRIMARY KEY, remark text)`;
      await owner`INSERT INTO x_big (remark) SELECT 'plain remark' FROM generate_series(1, 50)`;
      await owner`INSERT INTO x_big (remark) VALUES ('late@mail.example')`;
      const small = await detectPersonalColumns(login, loadAnonymizeRules(), 10);
      expect(small.findings.some((f) => f.table === "x_big")).toBe(false);
      const all = await detectPersonalColumns(login, loadAnonymizeRules(), 100);
      expect(all.findings.find((f) => f.table === "x_big")?.reasons).toEqual([
        "content: 1 of 51 sampled values hold an e-mail address",
      ]);
    },
    SLOW,
  );
});
