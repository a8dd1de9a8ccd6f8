/**
 * One owner per table (issue #15): each table is written (or, for jobs, touched at all) from its
 * owning module only, and the env vocabulary is spelt once. Read from the source tree, so a new
 * direct write anywhere in src/ fails here.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

const ROOT = join(import.meta.dir, "../..");
const SRC = join(ROOT, "src");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith(".ts") ? [path] : [];
  });
}

const files = sources(SRC).map((path) => ({ path: relative(ROOT, path), text: readFileSync(path, "utf8") }));

/** `db.update(table)`, `.insert(\n  table)`, `.delete(table)`, and raw SQL writes of `${table}`. */
function writes(text: string, table: string): boolean {
  return (
    new RegExp(String.raw`\.(update|insert|delete)\(\s*${table}\b`).test(text) ||
    new RegExp(String.raw`(UPDATE|INSERT\s+INTO|DELETE\s+FROM)\s+\$\{${table}\}`, "i").test(text)
  );
}

/** Imports the drizzle table object `table` from its `*.sql` module (to query or write it). */
function importsTable(text: string, table: string, module: string): boolean {
  return new RegExp(String.raw`import\s*\{[^}]*\b${table}\b[^}]*\}\s*from\s*"[^"]*${module}"`).test(text);
}

function offenders(pred: (text: string) => boolean, allowed: (path: string) => boolean): string[] {
  return files.filter((f) => pred(f.text) && !allowed(f.path)).map((f) => f.path);
}

describe("table owners", () => {
  test("the detectors see what they look for (so an empty list below means something)", () => {
    expect(writes("deps.db\n    .update(environments)\n    .set({})", "environments")).toBe(true);
    expect(writes("db.insert(deployments).values(v)", "deployments")).toBe(true);
    expect(writes(["db.run(sql`UPDATE $", "{environments} SET x = 1`)"].join(""), "environments")).toBe(true);
    expect(writes("db.select().from(environments)", "environments")).toBe(false);
    expect(
      importsTable(
        'import { and } from "x";\nimport { jobs, jobSteps } from "../jobs/jobs.sql";',
        "jobs",
        "jobs/jobs.sql",
      ),
    ).toBe(true);
    expect(importsTable('import { jobStatuses } from "../jobs/jobs.sql";', "jobs", "jobs/jobs.sql")).toBe(false);
  });

  test("environments rows are written by src/env/state.ts only (and inserted by env create)", () => {
    const owners = new Set(["src/env/state.ts", "src/env/create.ts"]);
    expect(
      offenders(
        (t) => writes(t, "environments"),
        (p) => owners.has(p),
      ),
    ).toEqual([]);
    // Both owners do write it: the list above is not empty because the detector went blind.
    for (const path of owners) expect(writes(files.find((f) => f.path === path)!.text, "environments")).toBe(true);
  });

  test("deployments rows are written by src/deploy/records.ts only", () => {
    expect(
      offenders(
        (t) => writes(t, "deployments"),
        (p) => p === "src/deploy/records.ts",
      ),
    ).toEqual([]);
  });

  test("the jobs table is touched from src/jobs/ only", () => {
    // state/schema.ts gathers every table for drizzle; it queries none.
    const allowed = (p: string) => p.startsWith("src/jobs/") || p === "src/state/schema.ts";
    expect(offenders((t) => importsTable(t, "jobs", "jobs/jobs.sql") || writes(t, "jobs"), allowed)).toEqual([]);
  });

  test("no status reason is matched by its text (the HTTP fallback is a column)", () => {
    expect(
      offenders(
        (t) => /like\(\s*environments\.statusReason/.test(t),
        () => false,
      ),
    ).toEqual([]);
    expect(
      offenders(
        (t) => /statusReason\?*\.startsWith\(\s*HTTP_FALLBACK/.test(t),
        () => false,
      ),
    ).toEqual([]);
  });
});

describe("vocabulary once", () => {
  test("the tier list and the status list are spelt in src/env/vocabulary.ts only", () => {
    const vocabulary = (p: string) => p === "src/env/vocabulary.ts";
    expect(offenders((t) => /"dev",\s*"dev_ephemeral",\s*"staging",\s*"production"/.test(t), vocabulary)).toEqual([]);
    expect(offenders((t) => /"creating",\s*"active",\s*"stopped",\s*"failed"/.test(t), vocabulary)).toEqual([]);
  });

  test("the active-or-stopped guard is src/env/vocabulary.ts's isCreated, not a set per domain", () => {
    expect(
      offenders(
        (t) => /\[\s*"active",\s*"stopped"\s*\]/.test(t),
        (p) => p === "src/env/vocabulary.ts",
      ),
    ).toEqual([]);
  });
});
