/**
 * `db clone` across hosts, planned (pure): the copy is made — and, when anonymized, checked — on
 * the source's host, packed like a backup, restored on the target's host, then deleted. The pack
 * travels through the shared S3 target (a prefix of its own) when one is configured; else it
 * waits in the source host's transfer directory and the target fetches it through the
 * coordinator with one-time tickets (relay-dir.ts, src/fleet/transfer-relay.ts). Each step names
 * the host it runs on, so the dry run shows that the source's data leaves its host only as the
 * checked copy.
 */
import { z } from "zod";
import type { S3Target } from "../../host/s3/schema";
import { s3BackupPrefix } from "../backup/layout";

/** Under the target's prefix; an env slug never starts with "_" (as DR's "_state/"), so no backup is ever under it. */
export const TRANSFER_DIR = "_clone-transfer";

/** The S3 target transfers are written to: the shared one, one level down. */
export function transferTarget(s3: S3Target): S3Target {
  return { ...s3, prefix: `${s3.prefix}${TRANSFER_DIR}/` };
}

/** `<prefix>_clone-transfer/<source slug>/<transfer id>/`: a backup's layout, so a backup's restore reads it. */
export function transferPrefix(s3: S3Target, sourceSlug: string, transferId: string): string {
  return s3BackupPrefix(transferTarget(s3), sourceSlug, transferId);
}

export interface CrossHostCloneRequest {
  source: { slug: string; host: string };
  target: { slug: string; host: string };
  /** The host the coordinator runs on: it deletes the transfer. */
  coordinator: string;
  anonymize: boolean;
  neutralize: boolean;
  preBackup: boolean;
  keepOld: boolean;
  /** The coordinator's backups.s3, the fleet's shared target; without it the pack is relayed. */
  s3: S3Target | undefined;
}

/** `s3`: through the shared bucket; `relay`: from the source's host through the coordinator. */
export const TransferPath = z.enum(["s3", "relay"]);
export type TransferPath = z.infer<typeof TransferPath>;

/** What the dry run and `--json` name as the path of a relayed pack. */
export const RELAY_NAME = "relay through the coordinator";

/** The shared S3 target when the coordinator has one; else the relay, which needs nothing more. */
export function transferPathOf(s3: S3Target | undefined): { path: "s3"; s3: S3Target } | { path: "relay" } {
  return s3 ? { path: "s3", s3 } : { path: "relay" };
}

/** Where the pack waits, as the plan and the audit name it. */
export function transferWhere(s3: S3Target | undefined, sourceSlug: string, transferId: string): string {
  const t = transferPathOf(s3);
  return t.path === "s3" ? `s3://${t.s3.bucket}/${transferPrefix(t.s3, sourceSlug, transferId)}` : RELAY_NAME;
}

/** The steps, each with the host it runs on. */
export function crossHostCloneSteps(req: CrossHostCloneRequest, transferId: string): string[] {
  const { source: src, target: dst } = req;
  const where = transferWhere(req.s3, src.slug, transferId);
  const s3 = req.s3 !== undefined;
  const copy = req.anonymize
    ? `on ${src.host}: copy ${src.slug}'s database into a scratch database, anonymized while copied, with a filestore of placeholders`
    : `on ${src.host}: copy ${src.slug}'s database and filestore into a scratch database`;
  return [
    copy,
    ...(req.anonymize
      ? [
          `on ${src.host}: check the copy for ${src.slug}'s e-mail addresses and phone numbers; nothing leaves ${src.host} unless it passes`,
        ]
      : []),
    s3
      ? `on ${src.host}: upload the copy to ${where} and drop the scratch database`
      : `on ${src.host}: pack the copy into its transfer directory (mode 0700) and drop the scratch database`,
    ...(s3
      ? []
      : [
          `on ${dst.host}: fetch the copy from ${src.host} through the coordinator, one single-use ticket per file, and check it against the manifest the coordinator recorded`,
        ]),
    ...(req.preBackup ? [`on ${dst.host}: back up ${dst.slug}'s current database first`] : []),
    `on ${dst.host}: restore the copy beside ${dst.slug}'s database${req.neutralize ? ", neutralize it" : ""}, swap it in, restart and health-check ${dst.slug}`,
    req.keepOld
      ? `on ${dst.host}: keep ${dst.slug}'s previous database under an _old_ name`
      : `on ${dst.host}: drop ${dst.slug}'s previous database`,
    s3
      ? `on ${req.coordinator}: delete the copy from ${where} (also when a step fails)`
      : `on ${src.host} and ${dst.host}: delete the copy from their transfer directories (also when a step fails)`,
  ];
}
