/**
 * The whole tree (src, scripts, bench, test) typechecks, unused locals and imports included:
 * bun runs TypeScript without checking it, so without this a type error lands silently.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { run } from "../src/exec/run";

test("tsc --noEmit finds no error in src, scripts, bench or test", async () => {
  const root = join(import.meta.dir, "..");
  const r = await run(
    { argv: [process.execPath, "x", "tsc", "--noEmit", "-p", root], cwd: root, timeoutMs: 300_000 },
    { nothrow: true },
  );
  expect(`${r.stdout}${r.stderr}`.trim()).toBe("");
  expect(r.exitCode).toBe(0);
}, 300_000);
