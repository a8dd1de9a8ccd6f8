/**
 * The rule layers (src/db/anonymize-rules.ts): defaults < host rules file < project file <
 * `--rules`, each merged over the one before, every layer named; validation errors name
 * `file:line: key.path`; a broken host file stops the config from loading. Then the layers over a
 * real project repository (anonymizeRulesFor) with a host file and a one-run file.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { loadConfig } from "../../src/config/load";
import { resolvePaths } from "../../src/config/paths";
import { anonymizeRulesFor, mergeRuleLayers, parseRulesOverride, readHostRules } from "../../src/db/anonymize-rules";
import { environments, type Environment } from "../../src/env/env.sql";
import { makeRepo, type TestRepo } from "../git/repo";
import { makeTestApi } from "../support/api";
import { makeTempDir, removeTempDir } from "../support/tmp";

let dir: string;
beforeAll(() => {
  dir = makeTempDir("odooops-layers-");
});
afterAll(() => removeTempDir(dir));

const email = (tpl: string) =>
  `version: 1\ntables:\n  res_partner:\n    columns:\n      email: { template: "${tpl}" }\n`;

describe("mergeRuleLayers", () => {
  test("later layers win column by column; untouched defaults stay; every layer is named, lowest first", () => {
    const host = parseRulesOverride(
      `tables:\n  res_partner:\n    columns:\n      email: { template: "host-{id}@x.invalid" }\n      phone: { set: "host" }\n  custom_table:\n    columns:\n      secret: { set: null }\n`,
      "host.yaml",
    );
    const project = parseRulesOverride(
      `tables:\n  res_partner:\n    columns:\n      email: { template: "project-{id}@x.invalid" }\n      street: { keep: true }\npiiCheck:\n  exclude: [res_partner.street]\n`,
      "project.yaml",
    );
    const run = parseRulesOverride(email("run-{id}@x.invalid"), "run.yaml");
    const r = mergeRuleLayers([
      { override: host, source: "host.yaml (host)" },
      { override: project, source: "project.yaml" },
      { override: null, source: "no other file" },
      { override: run, source: "run.yaml (--rules)" },
    ]);
    const partner = r.rules.tables.res_partner?.columns;
    expect(partner?.email).toEqual({ template: "run-{id}@x.invalid" });
    expect(partner?.phone).toEqual({ set: "host" });
    expect(partner?.street).toEqual({ keep: true });
    expect(partner?.vat).toEqual({ fake: "vat" });
    expect(r.rules.tables.custom_table?.columns.secret).toEqual({ set: null });
    expect(r.rules.piiCheck.exclude).toContain("res_partner.street");
    expect(r.sources).toEqual([
      "templates/anonymize-default.yaml",
      "host.yaml (host)",
      "project.yaml",
      "no other file",
      "run.yaml (--rules)",
    ]);
    expect(r.from).toBe(
      "templates/anonymize-default.yaml < host.yaml (host) < project.yaml < no other file < run.yaml (--rules)",
    );
  });

  test("a project can switch a host table off, and the host's columns for it come back when re-enabled later", () => {
    const host = parseRulesOverride(`tables:\n  mail_message:\n    enabled: false\n`, "h");
    const run = parseRulesOverride(`tables:\n  mail_message:\n    enabled: true\n`, "r");
    expect(mergeRuleLayers([{ override: host, source: "h" }]).rules.tables.mail_message?.enabled).toBe(false);
    const back = mergeRuleLayers([
      { override: host, source: "h" },
      { override: run, source: "r" },
    ]).rules.tables.mail_message;
    expect(back?.enabled).toBe(true);
    expect(back?.columns.body).toBeDefined();
  });
});

describe("validation: file:line: key.path: problem", () => {
  test("an unknown rule kind, a bad identifier, a bad exclude entry: every problem with its line", () => {
    const text = `version: 1\ntables:\n  res_partner:\n    columns:\n      email: { blank: true }\n  "Bad-Table":\n    enabled: false\npiiCheck:\n  exclude: ["nodot"]\n`;
    let problems: string[] = [];
    try {
      parseRulesOverride(text, "rules.yaml");
    } catch (e) {
      problems = ((e as { details?: { problems?: string[] } }).details?.problems ?? []) as string[];
    }
    expect(problems).toEqual([
      "rules.yaml:5: tables.res_partner.columns.email: Invalid input",
      "rules.yaml:7: tables.Bad-Table: Invalid key in record",
      "rules.yaml:9: piiCheck.exclude[0]: table.column",
    ]);
  });

  test("YAML syntax: the file and line", () => {
    expect(() => parseRulesOverride("tables:\n  res_partner: [\n", "x.yaml")).toThrow(/invalid YAML in x\.yaml:\d+: /);
  });

  test("readHostRules: a missing file is named with the config key", () => {
    expect(() => readHostRules(join(dir, "absent.yaml"))).toThrow(
      `anonymize.rulesFile: cannot read ${join(dir, "absent.yaml")}: ENOENT`,
    );
  });
});

describe("the host rules file at config load", () => {
  const rootWith = (name: string, config: string): ReturnType<typeof resolvePaths> => {
    const root = join(dir, name);
    mkdirSync(join(root, "etc"), { recursive: true });
    writeFileSync(join(root, "etc", "config.yaml"), config);
    return resolvePaths(root);
  };

  test("valid: loaded; its path is in the config", () => {
    const file = join(dir, "host-ok.yaml");
    writeFileSync(file, email("host-{id}@x.invalid"));
    expect(loadConfig(rootWith("ok", `anonymize:\n  rulesFile: ${file}\n`), { env: {} }).anonymize.rulesFile).toBe(
      file,
    );
  });

  test("broken: the config does not load, and the error names the rules file's line and key", () => {
    const file = join(dir, "host-bad.yaml");
    writeFileSync(file, `version: 1\ntables:\n  res_partner:\n    columns:\n      email: { template: "" }\n`);
    expect(() => loadConfig(rootWith("bad", `anonymize:\n  rulesFile: ${file}\n`), { env: {} })).toThrow(
      `${file}:5: tables.res_partner.columns.email`,
    );
  });

  test("a relative path is refused by the schema, naming the key", () => {
    expect(() => loadConfig(rootWith("rel", `anonymize:\n  rulesFile: rules.yaml\n`), { env: {} })).toThrow(
      "anonymize.rulesFile: an absolute path",
    );
  });

  test("none by default", () => {
    expect(loadConfig(rootWith("none", "{}\n"), { env: {} }).anonymize.rulesFile).toBe("");
  });
});

describe("anonymizeRulesFor with every layer", () => {
  let t: Awaited<ReturnType<typeof makeTestApi>>;
  let repo: TestRepo;
  let repoDir: string;
  const lines: string[] = [];
  const io = { log: (l: string) => void lines.push(l) };

  beforeAll(async () => {
    t = await makeTestApi();
    repoDir = makeTempDir("odooops-layers-repo-");
    repo = await makeRepo(repoDir);
    expect(
      (
        await t.request("/api/v1/environments", {
          method: "POST",
          body: JSON.stringify({ name: "shop", tier: "production" }),
        })
      ).status,
    ).toBe(202);
  });
  afterAll(() => {
    t?.cleanup();
    if (repoDir) removeTempDir(repoDir);
  });
  const shop = (): Environment => t.deps.db.select().from(environments).where(eq(environments.slug, "shop")).get()!;

  test("no repository: the host file is what a project without one gets", async () => {
    const file = join(dir, "host-layer.yaml");
    writeFileSync(
      file,
      `tables:\n  res_partner:\n    columns:\n      email: { template: "host-{id}@x.invalid" }\n      phone: { set: "0" }\n`,
    );
    t.deps.config.anonymize.rulesFile = file;
    try {
      const r = await anonymizeRulesFor(t.deps, shop(), io);
      expect(r.rules.tables.res_partner?.columns.email).toEqual({ template: "host-{id}@x.invalid" });
      expect(r.sources).toEqual([
        "templates/anonymize-default.yaml",
        `${file} (host rules file, anonymize.rulesFile)`,
        "no .odooops/anonymize.yaml (project default has no repository)",
      ]);

      // With a repository and --rules: project over host, --rules over both.
      const head = await repo.commit({ ".odooops/anonymize.yaml": email("project-{id}@x.invalid") });
      expect(
        (await t.request("/api/v1/projects/default", { method: "PUT", body: JSON.stringify({ repoUrl: repo.url }) }))
          .status,
      ).toBe(200);
      const p = await anonymizeRulesFor(t.deps, shop(), io);
      expect(p.rules.tables.res_partner?.columns.email).toEqual({ template: "project-{id}@x.invalid" });
      expect(p.rules.tables.res_partner?.columns.phone).toEqual({ set: "0" });
      const o = await anonymizeRulesFor(t.deps, shop(), io, { text: email("run-{id}@x.invalid"), file: "mine.yaml" });
      expect(o.rules.tables.res_partner?.columns.email).toEqual({ template: "run-{id}@x.invalid" });
      expect(o.from).toBe(
        `templates/anonymize-default.yaml < ${file} (host rules file, anonymize.rulesFile) < .odooops/anonymize.yaml at ${head.slice(0, 12)}, the head of main (shop serves no deployed commit) < mine.yaml (--rules, this run only)`,
      );
      // A bad one-run file: its own name and line.
      await expect(
        anonymizeRulesFor(t.deps, shop(), io, { text: "tables:\n  x:\n    nope: 1\n", file: "mine.yaml" }),
      ).rejects.toThrow("mine.yaml:3: tables.x.nope");
    } finally {
      t.deps.config.anonymize.rulesFile = "";
    }
  });
});
