/**
 * A backup restored on another host than the one that made it. With an S3 copy the fleet's
 * shared S3 target is the transfer path: the coordinator hands the restoring host the object's
 * prefix and the manifest its state recorded (hosts sign manifests with their own keys, so the
 * restoring host checks the manifest it downloads against the state's copy instead). With only a
 * local copy, the restoring host fetches it from the host that made it, relayed through the
 * coordinator (src/fleet/transfer-relay.ts), checked against the same recorded manifest. With
 * neither there is nothing the other host can read: refused, nothing queued.
 */
import { z } from "zod";
import type { Config } from "../config/schema";
import { Conflict, Invalid } from "../errors";
import type { BackupRow } from "./backup-job";
import type { BackupSource } from "./backup";

/** What a relayed transfer reads on its source's host. */
export const RelaySource = z.enum(["pack", "backup"]);

/** The manifest as the state recorded it when the backup (or the clone's pack) completed. */
const Manifest = z.record(z.string(), z.unknown());

export const S3Transfer = z.object({
  /** The backup's S3 prefix (`backups.s3_key`). */
  s3Key: z.string().min(1),
  manifest: Manifest,
});

/**
 * Without S3: the pack waits on the source's host (clone-transfer/relay-dir.ts) and the restoring
 * host downloads it through the coordinator with one-time tickets (src/fleet/transfer-relay.ts).
 */
export const RelayTransfer = z.object({
  relay: z.object({
    /** The source's host: the coordinator reads its own disk when it is this one. */
    hostId: z.string().min(1),
    /**
     * A clone's pack (its transfer directory) or a backup (its host's local backups root): the
     * source's host resolves the directory from its own paths and config (relay-dir.ts).
     */
    from: RelaySource.default("pack"),
    slug: z.string().min(1),
    /** The pack's transfer id, or the backup's id. */
    transferId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/),
  }),
  manifest: Manifest,
});
export type RelayTransfer = z.infer<typeof RelayTransfer>;

export const BackupTransfer = z.union([S3Transfer, RelayTransfer]);
export type BackupTransfer = z.infer<typeof BackupTransfer>;

/**
 * The transfer a restore on `toHost` needs for a backup made on `fromHost` (host ids, the
 * coordinator's own host already filled in), or null when it is the same host.
 */
export function backupTransfer(
  row: BackupRow,
  hosts: { from: string | null; to: string | null; fromName: string; toName: string },
): BackupTransfer | null {
  if (hosts.from === hosts.to) return null;
  if (row.status !== "completed" || row.manifest === null)
    throw new Invalid(`backup ${row.id} is ${row.status}; only a completed backup can be restored`);
  if (row.s3Key) return { s3Key: row.s3Key, manifest: row.manifest };
  // The local copy is named by the slug the backup was written under: the manifest's.
  const slug = row.manifest.env;
  if (!row.localPath || hosts.from === null || typeof slug !== "string")
    throw new Conflict(
      `backup ${row.id} was made on host ${hosts.fromName} and has neither an S3 copy nor a local one there; it cannot be restored on host ${hosts.toName}`,
    );
  return { relay: { hostId: hosts.from, from: "backup", slug, transferId: row.id }, manifest: row.manifest };
}

/** How the plan names where a transferred backup is read from. */
export const transferKind = (t: BackupTransfer): "s3" | "relay" => ("s3Key" in t ? "s3" : "relay");

/** Where the restoring host reads a transferred backup: its own S3 target, which must be the shared one. */
export function transferSource(config: Config, t: z.infer<typeof S3Transfer>): Extract<BackupSource, { kind: "s3" }> {
  const target = config.backups.s3;
  if (!target)
    throw new Invalid(
      `this host has no S3 target configured (backups.s3); a backup made on another host is read from the shared S3 target`,
    );
  return { kind: "s3", target, prefix: t.s3Key };
}
