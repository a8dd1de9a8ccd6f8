/**
 * Where a clone across hosts without S3 keeps its pack on each host: the source's checked copy
 * waits in `out/` until the target fetched it through the coordinator; the target downloads it
 * into `in/` and restores from there. Both have a backup's layout (`<slug>/<transfer id>/`), so
 * the ordinary backup writer and reader handle them, and both are removed after the transfer,
 * on failure, and at start-up (a crash left them: no transfer outlives its process's restart).
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Paths } from "../../config/paths";
import { localBackupDir } from "../backup/layout";

/** Mode 0700 like a backup root: a copy of a tenant's data, readable by odooops only. */
export const transferRoot = (paths: Pick<Paths, "dataDir">) => join(paths.dataDir, "clone-transfer");

/** The backups root the source's pack is written under (runBackup adds `<slug>/<id>`). */
export const outgoingRoot = (paths: Pick<Paths, "dataDir">) => join(transferRoot(paths), "out");

export const outgoingDir = (paths: Pick<Paths, "dataDir">, slug: string, transferId: string) =>
  localBackupDir(outgoingRoot(paths), slug, transferId);

export const incomingDir = (paths: Pick<Paths, "dataDir">, slug: string, transferId: string) =>
  localBackupDir(join(transferRoot(paths), "in"), slug, transferId);

/** Idempotent: a missing directory is fine. */
export async function dropTransferDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** At start-up, before any job runs: whatever a crash left of a transfer. */
export async function sweepTransfers(paths: Pick<Paths, "dataDir">): Promise<void> {
  await rm(transferRoot(paths), { recursive: true, force: true });
}
