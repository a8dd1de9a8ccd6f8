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
import type { Config } from "../../config/schema";
import { NotFound } from "../../errors";
import { localBackupDir } from "../backup/layout";
import type { RelayTransfer } from "../transfer";

/** Mode 0700 like a backup root: a copy of a tenant's data, readable by odooops only. */
export const transferRoot = (paths: Pick<Paths, "dataDir">) => join(paths.dataDir, "clone-transfer");

/** The backups root the source's pack is written under (runBackup adds `<slug>/<id>`). */
export const outgoingRoot = (paths: Pick<Paths, "dataDir">) => join(transferRoot(paths), "out");

export const outgoingDir = (paths: Pick<Paths, "dataDir">, slug: string, transferId: string) =>
  localBackupDir(outgoingRoot(paths), slug, transferId);

export const incomingDir = (paths: Pick<Paths, "dataDir">, slug: string, transferId: string) =>
  localBackupDir(join(transferRoot(paths), "in"), slug, transferId);

/**
 * Where a relayed transfer's files are on its source's host, from that host's own paths and
 * config — never a path that came over the wire: a pack's transfer directory, or a backup's
 * directory under the local backups root (as backup-job.ts's backupTargets chooses it).
 */
export function relaySourceDir(
  deps: { paths: Pick<Paths, "dataDir" | "backupsDir">; config: Pick<Config, "backups"> },
  relay: Pick<RelayTransfer["relay"], "from" | "slug" | "transferId">,
): string {
  if (relay.from === "pack") return outgoingDir(deps.paths, relay.slug, relay.transferId);
  const { local } = deps.config.backups;
  if (!local.enabled) throw new NotFound("this host keeps no local backups (backups.local is off)");
  return localBackupDir(local.dir !== "" ? local.dir : deps.paths.backupsDir, relay.slug, relay.transferId);
}

/** Idempotent: a missing directory is fine. */
export async function dropTransferDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** At start-up, before any job runs: whatever a crash left of a transfer. */
export async function sweepTransfers(paths: Pick<Paths, "dataDir">): Promise<void> {
  await rm(transferRoot(paths), { recursive: true, force: true });
}
