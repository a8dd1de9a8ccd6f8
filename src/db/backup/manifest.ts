/**
 * manifest.json: what a backup contains and how to check it. Written last (its presence marks a
 * complete copy), read first on restore, validated with zod because it comes back from storage.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { Invalid, errorText, issuesText } from "../../errors";

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);

export const PartInfoSchema = z.object({
  file: z.string(),
  size: z.number().int().nonnegative(),
  sha256: Sha256,
});

export const BackupManifestSchema = z.object({
  format: z.literal(1),
  backupId: z.string(),
  env: z.string(),
  dbName: z.string(),
  /** Odoo series, e.g. "17.0" (given by the caller, else derived from base's installed version). */
  odooVersion: z.string().nullable(),
  /** Installed modules with their installed version (`ir_module_module.latest_version`). */
  modules: z.array(z.object({ name: z.string(), version: z.string().nullable() })),
  /** Exact row counts of key tables, taken in the snapshot pg_dump dumped. */
  rowCounts: z.record(z.string(), z.number().int().nonnegative()),
  /** Number of tables in the public schema, same snapshot. */
  tableCount: z.number().int().nonnegative(),
  parts: z.object({ db: PartInfoSchema, filestore: PartInfoSchema }),
  pgDump: z.object({ version: z.string(), format: z.literal("custom") }),
  server: z.object({ version: z.string() }),
  startedAt: z.string(),
  finishedAt: z.string(),
});

export type BackupManifest = z.infer<typeof BackupManifestSchema>;
export type PartInfo = z.infer<typeof PartInfoSchema>;

/**
 * How a manifest read back from storage is trusted: its `hmac` field is HMAC-SHA256, keyed from
 * the host's secret key (`SecretBox.derive(MANIFEST_KEY_PURPOSE)`), over the manifest's other
 * fields as canonical JSON. Storage (a local dir, an S3 bucket) can be written by others; a
 * manifest is what says which bytes a restore may trust.
 */
export interface ManifestTrust {
  key: Buffer;
  /** Accept a manifest without `hmac` (older backups); never one whose `hmac` is wrong. */
  acceptUnsigned: boolean;
  warn?: (message: string) => void;
  /**
   * The manifest as the coordinator's state recorded it when the backup completed. A backup made
   * on another host is signed with that host's key, which this one does not hold: the state's
   * copy (trusted, unlike the bucket) is what the one read back must equal, field for field.
   */
  expected?: Record<string, unknown>;
}

export const MANIFEST_KEY_PURPOSE = "backup-manifest";
const MAC_FIELD = "hmac";
const MAC = /^hmac-sha256:([0-9a-f]{64})$/;

/** JSON with object keys sorted at every depth: the same value always gives the same bytes. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function mac(fields: Record<string, unknown>, key: Buffer): Buffer {
  return createHmac("sha256", key).update(canonicalJson(fields)).digest();
}

/** manifest.json's text: the manifest and its `hmac`. */
export function signManifest(manifest: BackupManifest, key: Buffer): string {
  // Signed as the reader will see it: what JSON keeps of the object, not the object itself.
  const fields = JSON.parse(JSON.stringify(manifest)) as Record<string, unknown>;
  return `${JSON.stringify({ ...fields, [MAC_FIELD]: `hmac-sha256:${mac(fields, key).toString("hex")}` }, null, 2)}\n`;
}

function verifyMac(raw: Record<string, unknown>, where: string, trust: ManifestTrust): void {
  const { [MAC_FIELD]: given, ...fields } = raw;
  if (trust.expected) {
    if (canonicalJson(fields) !== canonicalJson(trust.expected))
      throw new Invalid(
        `${where}: the manifest differs from the one recorded when the backup was made (altered in storage); refusing to restore it`,
      );
    return;
  }
  if (given === undefined) {
    if (!trust.acceptUnsigned) {
      throw new Invalid(
        `${where}: the manifest is not signed (a backup made before odooops signed manifests, or one written by someone else); refusing to restore it. If you trust this copy, set backups.acceptUnsignedManifests: true for the restore`,
      );
    }
    trust.warn?.(`${where}: restoring a backup whose manifest is not signed (backups.acceptUnsignedManifests is on)`);
    return;
  }
  const m = typeof given === "string" ? MAC.exec(given) : null;
  const ok = m !== null && timingSafeEqual(Buffer.from(m[1] as string, "hex"), mac(fields, trust.key));
  if (!ok)
    throw new Invalid(
      `${where}: the manifest's signature does not match (altered, or signed with another host's key); refusing to restore it`,
    );
}

export function parseManifest(text: string, where: string, trust: ManifestTrust): BackupManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Invalid(`${where}: manifest is not JSON (${errorText(e)})`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw))
    throw new Invalid(`${where}: manifest is not a JSON object`);
  verifyMac(raw as Record<string, unknown>, where, trust);
  const r = BackupManifestSchema.safeParse(raw);
  if (!r.success) throw new Invalid(`${where}: invalid manifest: ${issuesText(r.error)}`);
  return r.data;
}
