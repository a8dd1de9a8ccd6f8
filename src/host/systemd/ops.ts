/** Installing the rendered unit file; whether systemd runs here. */
import { chmodSync, existsSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/**
 * Writes `text` to `file` atomically (temp file + rename in the same directory), mode 0644:
 * systemd never reads a half-written unit. Returns false when the content was already identical,
 * so callers can skip a daemon-reload and restart.
 */
export async function writeUnitFile(file: string, text: string): Promise<boolean> {
  const current = Bun.file(file);
  if ((await current.exists()) && (await current.text()) === text) return false;
  const tmp = join(dirname(file), `.${basename(file)}.odooops-${process.pid}-${Date.now()}`);
  try {
    writeFileSync(tmp, text, { mode: 0o644 });
    // Explicit chmod: the mode given to writeFileSync is filtered by the process umask.
    chmodSync(tmp, 0o644);
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  return true;
}

/** sd_booted(3): the manager creates this directory when it runs as PID 1. */
export function systemdBooted(marker = "/run/systemd/system"): boolean {
  return existsSync(marker);
}
