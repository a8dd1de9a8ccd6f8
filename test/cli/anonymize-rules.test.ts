/** `odooops db anonymize-rules`: a project's rules file checked by the daemon, problems with file:line: key, or the merged rules. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { makeTestApi } from "../support/api";
import { runCliWith } from "../support/cli";
import { makeTempDir, removeTempDir } from "../support/tmp";

let t: Awaited<ReturnType<typeof makeTestApi>>;
let dir: string;
const cli = (...argv: string[]) =>
  runCliWith(argv, { fetch: t.fetch, env: { ODOOOPS_URL: "http://odooops.test", ODOOOPS_TOKEN: t.token } });

beforeAll(async () => {
  t = await makeTestApi();
  dir = makeTempDir("odooops-rules-cli-");
  mkdirSync(join(dir, ".odooops"));
});
afterAll(() => {
  t.cleanup();
  removeTempDir(dir);
});

test("a valid file: exit 0, the defaults with the file merged over them", async () => {
  const file = join(dir, "good.yaml");
  writeFileSync(
    file,
    "version: 1\ntables:\n  res_partner:\n    columns:\n      street: { keep: true }\n  mail_message:\n    enabled: false\npiiCheck:\n  exclude: [mail_message.body]\n",
  );
  const r = await cli("db", "anonymize-rules", "--file", file);
  expect(r.code).toBe(0);
  expect(r.stderr).toContain(`${file}: valid`);
  const rules = parse(r.stdout) as {
    tables: Record<string, { enabled: boolean; columns: Record<string, unknown> }>;
    piiCheck: { exclude: string[] };
  };
  expect(rules.tables.res_partner?.columns.street).toEqual({ keep: true });
  expect(rules.tables.res_partner?.columns.email).toEqual({ fake: "email" });
  expect(rules.tables.mail_message?.enabled).toBe(false);
  expect(rules.piiCheck.exclude).toEqual(["mail_message.body"]);
});

test("an invalid file: exit 1, every problem with file:line: key", async () => {
  const file = join(dir, ".odooops", "anonymize.yaml");
  writeFileSync(
    file,
    "version: 1\ntables:\n  res_partner:\n    colums: {}\n  res_users:\n    columns:\n      password: { devPassword: false }\n",
  );
  const r = await cli("db", "anonymize-rules", "--file", file);
  expect(r.code).toBe(1);
  expect(r.stderr.trim().split("\n")).toEqual([
    `${file}:4: tables.res_partner.colums: Unrecognized key: "colums"`,
    expect.stringMatching(new RegExp(`^${file.replace(/[.]/g, "\\.")}:7: tables\\.res_users\\.columns\\.password: `)),
  ]);
  const json = await cli("db", "anonymize-rules", "--file", file, "--json");
  expect(json.code).toBe(1);
  expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, rules: null });
});

test("an unreadable file is a usage error", async () => {
  expect((await cli("db", "anonymize-rules", "--file", join(dir, "nope.yaml"))).code).toBe(2);
});
