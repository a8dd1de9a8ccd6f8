/**
 * The tree is formatted and passes the linter (biome.json): a line formatted by hand or a
 * suspicious construct (assignment in an expression, unsafe optional chain…) fails CI here.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { run } from "../src/exec/run";

test("biome ci: every file formatted, no lint error", async () => {
  const root = join(import.meta.dir, "..");
  const biome = join(root, "node_modules", ".bin", "biome");
  const r = await run(
    { argv: [biome, "ci", "--colors=off", "--diagnostic-level=error", root], cwd: root, timeoutMs: 120_000 },
    { nothrow: true },
  );
  expect(r.exitCode === 0 ? "" : `${r.stdout}${r.stderr}`.slice(-4000)).toBe("");
}, 120_000);
