import { describe, expect, test } from "bun:test";
import { odooOnceArgs } from "../../src/env/odoo-once";
import { OdooOutput } from "../../src/env/odoo-output";

/** Odoo 17 log lines end with a perf_info field, often empty: a trailing space. */
const at = (level: string, logger: string, msg: string) =>
  `2024-07-09 10:00:00,123 7 ${level} scratch ${logger}: ${msg} `;

function digest(lines: string[]): string {
  const o = new OdooOutput();
  for (const l of lines) o.push(l);
  return o.explain();
}

const noise = (n: number) =>
  Array.from({ length: n }, (_, i) =>
    at(
      "INFO",
      "odoo.addons.base.tests.test_ir_actions",
      `Starting TestServerActions.test_${String(i).padStart(4, "0")} ...`,
    ),
  );

describe("what explains a failed Odoo run", () => {
  test("a test run: failing test names from far above the end, both summaries, the last exception", () => {
    const out = digest([
      at("INFO", "odoo.modules.loading", "Loading module my_mod (12/12)"),
      at("INFO", "odoo.addons.my_mod.tests.test_sale", "Starting TestSale.test_confirm ..."),
      at(
        "INFO",
        "odoo.addons.my_mod.tests.test_sale",
        "======================================================================",
      ),
      at("ERROR", "odoo.addons.my_mod.tests.test_sale", "FAIL: TestSale.test_confirm"),
      "Traceback (most recent call last):",
      '  File "/mnt/extra-addons/my_mod/tests/test_sale.py", line 12, in test_confirm',
      "    self.assertEqual(order.state, 'sale')",
      "AssertionError: 'draft' != 'sale'",
      at("ERROR", "odoo.addons.my_mod.tests.test_sale", "ERROR: TestSale.test_cancel"),
      "Traceback (most recent call last):",
      '  File "/usr/lib/python3/dist-packages/odoo/sql_db.py", line 332, in execute',
      "    res = self._obj.execute(query, params)",
      "psycopg2.errors.UndefinedColumn: column sale_order.x_note does not exist",
      'LINE 1: SELECT "sale_order"."x_note" FROM "sale_order"',
      ...noise(500),
      at("ERROR", "odoo.modules.loading", "Module my_mod: 1 failures, 1 errors of 9 tests"),
      at("ERROR", "odoo.modules.loading", "At least one test failed when loading the modules."),
      at("INFO", "odoo.service.server", "Starting post tests"),
      ...noise(100),
      at("INFO", "odoo.tests.stats", "my_mod: 11 tests 0.84s 120 queries"),
      at("ERROR", "odoo.tests.result", "1 failed, 1 error(s) of 1357 tests when loading database 'scratch'"),
    ]);
    expect(out).toBe(
      [
        "Module my_mod: 1 failures, 1 errors of 9 tests",
        "1 failed, 1 error(s) of 1357 tests when loading database 'scratch'",
        "failing tests (2):",
        "  FAIL: TestSale.test_confirm (odoo.addons.my_mod.tests.test_sale)",
        "  ERROR: TestSale.test_cancel (odoo.addons.my_mod.tests.test_sale)",
        "psycopg2.errors.UndefinedColumn: column sale_order.x_note does not exist",
      ].join("\n"),
    );
  });

  test("a failed update (exit 255): the error records and the traceback's exception line", () => {
    const out = digest([
      at("INFO", "odoo.modules.loading", "updating modules list"),
      at("ERROR", "odoo.modules.migration", "module my_mod: Error while running migration 17.0.1.1/post-migrate.py"),
      at("CRITICAL", "odoo.service.server", "Failed to initialize database `odoo_shop`."),
      "Traceback (most recent call last):",
      '  File "/usr/lib/python3/dist-packages/odoo/service/server.py", line 1301, in preload_registries',
      "    registry = Registry.new(dbname, update_module=update_module)",
      '  File "/mnt/extra-addons/my_mod/migrations/17.0.1.1/post-migrate.py", line 4, in migrate',
      "    raise UserError('no default warehouse')",
      "odoo.exceptions.UserError: no default warehouse",
      ...noise(60).map((l) => l.replace("Starting", "Still")),
    ]);
    expect(out).toBe(
      [
        at(
          "ERROR",
          "odoo.modules.migration",
          "module my_mod: Error while running migration 17.0.1.1/post-migrate.py",
        ).trimEnd(),
        at("CRITICAL", "odoo.service.server", "Failed to initialize database `odoo_shop`.").trimEnd(),
        "odoo.exceptions.UserError: no default warehouse",
      ].join("\n"),
    );
  });

  test("many failing tests: the first ten named, the count of the rest", () => {
    const fails = Array.from({ length: 13 }, (_, i) =>
      at("ERROR", "odoo.addons.m.tests.test_x", `FAIL: TestX.test_${i}`),
    );
    const lines = digest(fails).split("\n");
    expect(lines[0]).toBe("failing tests (13):");
    expect(lines.slice(1, 11)).toEqual(
      Array.from({ length: 10 }, (_, i) => `  FAIL: TestX.test_${i} (odoo.addons.m.tests.test_x)`),
    );
    expect(lines[11]).toBe("  … 3 more in the job log");
  });

  test("output that is not Odoo's (a gate command): its last lines", () => {
    const lines = Array.from({ length: 20 }, (_, i) => `line ${i}`);
    expect(digest(lines)).toBe(lines.slice(-12).join("\n"));
  });
});

describe("one-off Odoo runs", () => {
  test("always threaded (--workers 0) and stopped after init, after the caller's arguments", () => {
    expect(odooOnceArgs("odoo_shop", ["-u", "my_mod"])).toEqual([
      "-c",
      "/etc/odoo/odoo.conf",
      "-d",
      "odoo_shop",
      "-u",
      "my_mod",
      "--workers",
      "0",
      "--stop-after-init",
    ]);
  });
});
