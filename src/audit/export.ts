/**
 * Audit export as JSON lines: the rows as stored, chain fields included, so a copy kept elsewhere
 * (the backup bucket) can be checked against the host's log later, tail truncation included.
 */
import { Invalid } from "../errors";
import { openS3, s3Key, type S3Target } from "../host/s3";
import type { ChainRow } from "./chain";
import type { AuditQuery, AuditService } from "./service";

export type ExportRange = Pick<AuditQuery, "since" | "until">;

export function* exportLines(audit: AuditService, range: ExportRange): Generator<string> {
  for (const row of audit.rows(range)) yield `${JSON.stringify(row satisfies ChainRow)}\n`;
}

export async function exportToS3(
  audit: AuditService,
  target: S3Target | undefined,
  range: ExportRange,
): Promise<{ bucket: string; key: string; rows: number; bytes: number }> {
  if (!target) throw new Invalid("no S3 target: configure backups.s3 to export the audit log there");
  const lines = [...exportLines(audit, range)];
  const body = new TextEncoder().encode(lines.join(""));
  const key = s3Key(target, "audit", `audit-${new Date().toISOString().replace(/[:.]/g, "-")}.jsonl`);
  const store = await openS3(target);
  try {
    await store.put(key, body, "application/x-ndjson");
  } finally {
    store.close();
  }
  return { bucket: target.bucket, key, rows: lines.length, bytes: body.byteLength };
}
