/**
 * `db clone` across hosts, planned (pure): the copy is made — and, when anonymized, checked — on
 * the source's host, packed like a backup into the shared S3 target under a prefix of its own,
 * restored on the target's host, then deleted from S3. Each step names the host it runs on, so
 * the dry run shows that the source's data leaves its host only as the checked copy.
 */
import { Conflict } from "../../errors";
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
  /** The coordinator's backups.s3, the fleet's shared target. */
  s3: S3Target | undefined;
}

/** The shared S3 target, or a refusal that says what to configure (nothing is created before it). */
export function requireTransferTarget(req: Pick<CrossHostCloneRequest, "source" | "target" | "s3">): S3Target {
  if (req.s3) return req.s3;
  throw new Conflict(
    `${req.source.slug} runs on host ${req.source.host} and ${req.target.slug} on host ${req.target.host}: a clone across hosts travels through the shared S3 target, and none is configured (set backups.s3 on every host, the same bucket); nothing was changed`,
  );
}

/** The steps, each with the host it runs on. */
export function crossHostCloneSteps(req: CrossHostCloneRequest, transferId: string): string[] {
  const s3 = requireTransferTarget(req);
  const { source: src, target: dst } = req;
  const where = `s3://${s3.bucket}/${transferPrefix(s3, src.slug, transferId)}`;
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
    `on ${src.host}: upload the copy to ${where} and drop the scratch database`,
    ...(req.preBackup ? [`on ${dst.host}: back up ${dst.slug}'s current database first`] : []),
    `on ${dst.host}: restore the copy beside ${dst.slug}'s database${req.neutralize ? ", neutralize it" : ""}, swap it in, restart and health-check ${dst.slug}`,
    req.keepOld
      ? `on ${dst.host}: keep ${dst.slug}'s previous database under an _old_ name`
      : `on ${dst.host}: drop ${dst.slug}'s previous database`,
    `on ${req.coordinator}: delete the copy from ${where} (also when a step fails)`,
  ];
}
