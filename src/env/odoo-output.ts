/**
 * What explains a failed Odoo run, collected while its output streams by: a real test run writes
 * hundreds of kilobytes and the failing tests' names sit far above any tail. Pure, fed line by
 * line. Line shapes are Odoo 17's (`odoo/netsvc.py` format `asctime pid LEVEL db logger: message`
 * plus a trailing perf_info space; `odoo/tests/result.py` `logError` → `FAIL: Class.test` /
 * `ERROR: Class.test` and `__str__` → `N failed, M error(s) of K tests`; `odoo/modules/loading.py`
 * → `Module x: N failures, M errors of K tests`; `server.py` `preload_registries` →
 * `Failed to initialize database` with the traceback, whose last line is `<Exception>: message`).
 */

/** `... ERROR db odoo.addons.m.tests.test_x: FAIL: TestX.test_y` → `FAIL: TestX.test_y (odoo.addons.m.tests.test_x)`. */
const FAILED_TEST = / (?:ERROR|CRITICAL) \S+ ([\w.]+): ((?:FAIL|ERROR): .+)$/;
const TEST_SUMMARY = / odoo\.tests\.result: (\d+ failed, \d+ error\(s\) of \d+ tests.*)$/;
const MODULE_SUMMARY = / odoo\.modules\.loading: (Module \S+: \d+ failures, \d+ errors of \d+ tests)$/;
/** A log record at ERROR/CRITICAL: `2024-07-09 10:00:00,123 7 ERROR db logger: message`. */
const ERROR_RECORD = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \d+ (?:ERROR|CRITICAL) /;
/** A traceback's last line: `AssertionError: 1 != 2`, `psycopg2.errors.UndefinedColumn: column …`. */
const EXCEPTION = /^(?:[A-Za-z_]\w*\.)*[A-Z]\w*: \S/;

const MAX_TESTS = 10;
const MAX_ERRORS = 3;

export class OdooOutput {
  private readonly tests: string[] = [];
  private testCount = 0;
  private readonly summaries: string[] = [];
  private readonly errors: string[] = [];
  private exception: string | null = null;
  private readonly tail: string[] = [];

  constructor(private readonly tailLines = 12) {}

  push(raw: string): void {
    const line = raw.trimEnd();
    this.tail.push(line);
    if (this.tail.length > this.tailLines) this.tail.shift();
    const test = FAILED_TEST.exec(line);
    if (test) {
      this.testCount++;
      if (this.tests.length < MAX_TESTS) this.tests.push(`${test[2]} (${test[1]})`);
      return;
    }
    const summary = TEST_SUMMARY.exec(line) ?? MODULE_SUMMARY.exec(line);
    if (summary) {
      this.summaries.push(summary[1]!);
      return;
    }
    if (ERROR_RECORD.test(line)) {
      this.errors.push(line);
      if (this.errors.length > MAX_ERRORS) this.errors.shift();
      return;
    }
    if (EXCEPTION.test(line)) this.exception = line;
  }

  /** The test summaries and failing tests, else the last error records, else the tail; and the last exception. */
  explain(): string {
    const out = [...this.summaries];
    if (this.testCount > 0) {
      out.push(`failing tests (${this.testCount}):`, ...this.tests.map((t) => `  ${t}`));
      if (this.testCount > this.tests.length) out.push(`  … ${this.testCount - this.tests.length} more in the job log`);
    }
    // Error records repeat what a test summary says; without one they carry the cause, and
    // without them (a gate command, not Odoo) the last lines do.
    if (out.length === 0) out.push(...(this.errors.length > 0 ? this.errors : this.tail));
    if (this.exception && !out.includes(this.exception)) out.push(this.exception);
    return out.join("\n");
  }
}
