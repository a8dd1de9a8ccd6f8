/**
 * manifest.json: what a backup contains and how to check it. Written last (its presence marks a
 * complete copy), read first on restore, validated with zod because it comes back from storage.
 */
import { z } from "zod";
import { Invalid } from "../../errors";

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

export function parseManifest(text: string, where: string): BackupManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Invalid(`${where}: manifest is not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const r = BackupManifestSchema.safeParse(raw);
  if (!r.success) throw new Invalid(`${where}: invalid manifest: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return r.data;
}
