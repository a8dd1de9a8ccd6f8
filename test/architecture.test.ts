/**
 * The layers of docs/architecture.md, enforced: every import under src/ is read (type-only ones
 * too) and each breach is named `file → import (rule)`. The rules are first shown to fire on
 * made-up graphs, so a checker that silently finds nothing fails here too.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cycles, type Edge, fileCycles, layerViolations, moduleCycles, scanSrc, VOCABULARY } from "./support/imports";

const named = (edges: Edge[]) => layerViolations(edges).map((v) => `${v.from} → ${v.to} (${v.rule})`);
const value = (from: string, to: string): Edge => ({ from, to, kind: "value" });
const type = (from: string, to: string): Edge => ({ from, to, kind: "type" });

/**
 * Cycles between peer domains that exist today (runtime imports; a table file counts as state's;
 * each import on a cycle is named by one line). A new one fails, and so does one that is gone
 * and still listed: break one, delete its line.
 */
const KNOWN_DOMAIN_CYCLES = ["certs → env → certs", "db → env → db"];

describe("vocabulary files", () => {
  test("import nothing, so the tables may use them without tying state to a domain", () => {
    for (const file of VOCABULARY)
      expect(
        new Bun.Transpiler({ loader: "ts" }).scanImports(readFileSync(join(import.meta.dir, "..", file), "utf8")),
      ).toEqual([]);
  });
});

describe("the rules fire", () => {
  test("host/ and exec/ import no domain; base files only base files", () => {
    expect(
      named([
        type("src/host/acme/issue.ts", "src/certs/store.ts"),
        value("src/host/nginx/ops.ts", "src/exec/run.ts"),
        value("src/host/nginx/ops.ts", "src/errors.ts"),
        value("src/exec/run.ts", "src/config/paths.ts"),
        value("src/exec/run.ts", "src/log.ts"),
        value("src/log.ts", "src/config/schema.ts"),
      ]),
    ).toEqual([
      "src/host/acme/issue.ts → src/certs/store.ts (host/ imports only exec/ and base files)",
      "src/exec/run.ts → src/config/paths.ts (exec/ imports only base files)",
      "src/log.ts → src/config/schema.ts (base files import only base files)",
    ]);
  });

  test("no domain imports api/, cli/ or daemon/, even for a type; nothing imports main.ts", () => {
    expect(
      named([
        type("src/db/schedule.ts", "src/api/deps.ts"),
        type("src/env/ttl-sweep.ts", "src/daemon/scheduler.ts"),
        value("src/init/run.ts", "src/cli/io.ts"),
        value("src/daemon/serve.ts", "src/api/app.ts"),
        value("src/api/app.ts", "src/daemon/serve.ts"),
        value("src/cli/io.ts", "src/main.ts"),
      ]),
    ).toEqual([
      "src/db/schedule.ts → src/api/deps.ts (domains do not import api/)",
      "src/env/ttl-sweep.ts → src/daemon/scheduler.ts (domains do not import daemon/)",
      "src/init/run.ts → src/cli/io.ts (domains do not import cli/)",
      "src/api/app.ts → src/daemon/serve.ts (api/ does not import daemon/)",
      "src/cli/io.ts → src/main.ts (nothing imports src/main.ts)",
    ]);
  });

  test("the web console is an entry point: no domain imports it, it imports neither cli/ nor daemon/", () => {
    expect(
      named([
        value("src/env/list.ts", "src/console/app.ts"),
        value("src/console/app.ts", "src/cli/io.ts"),
        value("src/console/app.ts", "src/daemon/serve.ts"),
        value("src/console/app.ts", "src/api/app.ts"),
        value("src/daemon/serve.ts", "src/console/app.ts"),
      ]),
    ).toEqual([
      "src/env/list.ts → src/console/app.ts (domains do not import console/)",
      "src/console/app.ts → src/cli/io.ts (console/ does not import cli/)",
      "src/console/app.ts → src/daemon/serve.ts (console/ does not import daemon/)",
    ]);
  });

  test("cli/ reaches state only through its client; local commands may use the domains", () => {
    const graph = [
      value("src/env/service.ts", "src/state/db.ts"),
      type("src/env/schema.ts", "src/state/columns.ts"),
      value("src/cli/commands/env.ts", "src/env/schema.ts"),
      value("src/cli/commands/env.ts", "src/env/service.ts"),
      value("src/cli/commands/dr.ts", "src/env/service.ts"),
      value("src/cli/commands/jobs.ts", "src/errors.ts"),
    ];
    expect(named(graph)).toEqual([
      "src/cli/commands/env.ts → src/env/service.ts (cli/ reaches the server only through cli/client.ts" +
        " (src/env/service.ts leads to src/state/db.ts))",
    ]);
  });

  test("src/deps.ts imports types only", () => {
    expect(named([type("src/deps.ts", "src/state/db.ts"), value("src/deps.ts", "src/auth/secretbox.ts")])).toEqual([
      "src/deps.ts → src/auth/secretbox.ts (src/deps.ts imports types only)",
    ]);
  });

  test("cycles are paths over runtime imports, each once; type-only imports make none", () => {
    const graph = [
      value("src/cli/main.ts", "src/cli/commands/db.ts"),
      value("src/cli/commands/db.ts", "src/cli/main.ts"),
      value("src/doctor/a.ts", "src/doctor/b.ts"),
      value("src/doctor/b.ts", "src/doctor/c.ts"),
      value("src/doctor/c.ts", "src/doctor/a.ts"),
      value("src/audit/service.ts", "src/audit/coalesce.ts"),
      type("src/audit/coalesce.ts", "src/audit/service.ts"),
    ];
    expect(cycles(graph)).toEqual([
      "src/cli/commands/db.ts → src/cli/main.ts → src/cli/commands/db.ts",
      "src/doctor/a.ts → src/doctor/b.ts → src/doctor/c.ts → src/doctor/a.ts",
    ]);
  });

  test("inside one folder a type-only import counts for cycles; across folders it does not", () => {
    const graph = [
      value("src/audit/service.ts", "src/audit/coalesce.ts"),
      type("src/audit/coalesce.ts", "src/audit/service.ts"),
      value("src/jobs/define.ts", "src/deps.ts"),
      type("src/deps.ts", "src/jobs/service.ts"),
      value("src/jobs/service.ts", "src/jobs/define.ts"),
    ];
    expect(fileCycles(graph)).toEqual(["src/audit/coalesce.ts → src/audit/service.ts → src/audit/coalesce.ts"]);
  });

  test("module cycles lift files to their folder; a table file belongs to state", () => {
    const graph = [
      value("src/env/actions.ts", "src/db/backup-job.ts"),
      value("src/db/backup-job.ts", "src/env/lookup.ts"),
      value("src/state/schema.ts", "src/jobs/jobs.sql.ts"),
      value("src/jobs/queue.ts", "src/state/db.ts"),
    ];
    expect(moduleCycles(graph)).toEqual(["db → env → db"]);
  });
});

describe("src/ as it is", () => {
  const edges = scanSrc(join(import.meta.dir, ".."));

  test("the scan sees the tree (type-only imports included)", () => {
    const has = (from: string, to: string, kind: string) =>
      edges.some((e) => e.from === from && e.to === to && e.kind === kind);
    expect(has("src/main.ts", "src/cli/io.ts", "value")).toBe(true);
    expect(has("src/doctor/check.ts", "src/doctor/context.ts", "type")).toBe(true);
    expect(edges.length).toBeGreaterThan(1000);
  });

  test("no import breaks a layer rule", () => {
    expect(named(edges)).toEqual([]);
  });

  test("no import cycle between files", () => {
    expect(fileCycles(edges)).toEqual([]);
  });

  test("no cycle between top-level modules but the known peer-domain ones", () => {
    expect(moduleCycles(edges)).toEqual(KNOWN_DOMAIN_CYCLES);
  });
});
