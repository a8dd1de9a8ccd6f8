/**
 * TEST ONLY. Crash tests kill the daemon at exact points of a copy: with
 * `ODOOOPS_TEST_PAUSE_AT=<point>` and `ODOOOPS_TEST_PAUSE_FILE=<path>` set, reaching `<point>`
 * creates `<path>.reached` and blocks until `<path>` exists. Never set outside tests; unset, a
 * pause point returns at once. The points are the PausePoint values.
 */
import { existsSync, writeFileSync } from "node:fs";

export type PausePoint = "scratch:before-role" | "scratch:after-role" | "scratch:after-copy" | "scratch:during-drop";

export async function pausePoint(point: PausePoint): Promise<void> {
  const file = process.env.ODOOOPS_TEST_PAUSE_FILE;
  if (process.env.ODOOOPS_TEST_PAUSE_AT !== point || !file) return;
  writeFileSync(`${file}.reached`, point);
  while (!existsSync(file)) await Bun.sleep(20);
}
