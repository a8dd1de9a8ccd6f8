/** Test harness: temporary directories that are removed even when a test fails. */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const created = new Set<string>();

/**
 * A fresh directory `/tmp/<prefix>XXXXXX`, mode 0755 so service users (postgres, nginx workers,
 * uid 101 in Odoo containers) can traverse it. Removed at process exit if not removed before.
 */
export function makeTempDir(prefix = "odooops-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  created.add(dir);
  return dir;
}

/** Removes a directory made by makeTempDir (recursive, never throws). */
export function removeTempDir(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // Best effort: a leftover temp dir must not fail the test run.
  }
  created.delete(dir);
}

/** A random lowercase suffix for names that must not collide between test runs. */
export function randomSuffix(len = 8): string {
  return crypto.randomUUID().replace(/-/g, "").slice(0, len);
}

process.on("exit", () => {
  for (const dir of created) removeTempDir(dir);
});
