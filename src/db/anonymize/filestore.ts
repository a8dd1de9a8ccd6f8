/**
 * The filestore of an anonymized copy: built from what the copy's ir_attachment points at, never
 * by copying the source's directory. A placeholder's store_fname gets the placeholder's bytes;
 * any other store_fname (module data, web assets: rows the copy kept as they were) is copied
 * from the source's filestore. Business files of the source are therefore never read, and files
 * no row points at (garbage Odoo has not collected yet) are left behind.
 * The source directory is the tenant's: it is pinned (tenant-dir.ts) and each file is opened
 * with O_NOFOLLOW below the pinned descriptor; store_fname values are the tenant's too and must
 * have Odoo's shape (`<2 or 3 hex>/<sha1>`, ir_attachment._get_path) before they name a path.
 */
import { constants } from "node:fs";
import { chown, copyFile, type FileHandle, mkdir, open, stat, unlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Conflict } from "../../errors";
import { hasOwnedTable, withTenant, type TenantLogin } from "../../host/postgres/tenant";
import { FILESTORE_TENANT_DEPTH, openTenantDir, walkTenantDir, type PinnedDir } from "../backup/tenant-dir";
import { PLACEHOLDERS } from "./placeholders";

const STORE_FNAME = /^([0-9a-f]{2,3})\/([0-9a-f]{40})$/;

export interface AnonymizedFilestoreInput {
  /** The copy (already anonymized), read as its owner. */
  target: TenantLogin;
  /** The source env's filestore (`<data>/filestore/<db>`); may not exist. */
  sourceDir: string;
  /** The copy's filestore; must not exist. */
  targetDir: string;
  /** Odoo's user in the container: owns every directory and file written. */
  uid: number;
  gid: number;
}

export interface AnonymizedFilestoreReport {
  /** Placeholder files written (one per distinct placeholder in use). */
  written: number;
  /** Module data / asset files copied from the source. */
  copied: number;
  /** Attachment rows now pointing at a placeholder. */
  replaced: number;
  /** store_fname values not copied: not Odoo's shape, or no such regular file in the source. */
  skipped: string[];
}

/** Copies `rel` from the pinned source, refusing links at either level; false when absent. */
async function copyOne(source: PinnedDir, dir: string, name: string, to: string): Promise<boolean> {
  let sub: FileHandle;
  try {
    sub = await open(`${source.path}/${dir}`, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch {
    return false;
  }
  try {
    let file: FileHandle;
    try {
      file = await open(
        `/proc/self/fd/${sub.fd}/${name}`,
        constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
      );
    } catch {
      return false;
    }
    try {
      if (!(await file.stat()).isFile()) return false;
      await copyFile(`/proc/self/fd/${file.fd}`, to, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
      return true;
    } finally {
      await file.close();
    }
  } finally {
    await sub.close();
  }
}

/** The store_fnames the copy's rows point at, and how many rows point at a placeholder. */
async function referenced(target: TenantLogin): Promise<{ fnames: string[]; replaced: number }> {
  return withTenant(target, async (sql) => {
    if (!(await hasOwnedTable(sql, "ir_attachment"))) return { fnames: [], replaced: 0 };
    const rows = await sql<
      { f: string }[]
    >`SELECT DISTINCT store_fname AS f FROM public.ir_attachment WHERE store_fname IS NOT NULL ORDER BY 1`;
    const [n] = await sql<
      { n: number }[]
    >`SELECT count(*)::int AS n FROM public.ir_attachment WHERE checksum = ANY(${PLACEHOLDERS.map((p) => p.sha1)})`;
    return { fnames: rows.map((r) => r.f), replaced: n?.n ?? 0 };
  });
}

export async function writeAnonymizedFilestore(input: AnonymizedFilestoreInput): Promise<AnonymizedFilestoreReport> {
  if (
    await stat(input.targetDir).then(
      () => true,
      () => false,
    )
  )
    throw new Conflict(`${input.targetDir} already exists`);
  // The target env's `filestore` is its tenant's too: a link there would take the copy elsewhere.
  openTenantDir(dirname(input.targetDir), 1)?.close();
  const { fnames, replaced } = await referenced(input.target);
  const report: AnonymizedFilestoreReport = { written: 0, copied: 0, replaced, skipped: [] };
  const byFname = new Map(PLACEHOLDERS.map((p) => [p.storeFname, p]));
  const source = openTenantDir(input.sourceDir, FILESTORE_TENANT_DEPTH);
  const made = new Set<string>();
  const place = async (dir: string): Promise<string> => {
    const d = join(input.targetDir, dir);
    if (!made.has(d)) {
      await mkdir(d, { mode: 0o750 });
      await chown(d, input.uid, input.gid);
      made.add(d);
    }
    return d;
  };
  try {
    await mkdir(input.targetDir, { mode: 0o750 });
    await chown(input.targetDir, input.uid, input.gid);
    for (const fname of fnames) {
      const m = STORE_FNAME.exec(fname);
      if (!m?.[1] || !m[2] || !m[2].startsWith(m[1])) {
        report.skipped.push(fname);
        continue;
      }
      const to = join(await place(m[1]), m[2]);
      const p = byFname.get(fname);
      if (p) {
        await writeFile(to, p.data, { mode: 0o640, flag: "wx" });
        report.written++;
      } else if (source && (await copyOne(source, m[1], m[2], to))) report.copied++;
      else {
        report.skipped.push(fname);
        continue;
      }
      await chown(to, input.uid, input.gid);
    }
  } finally {
    source?.close();
  }
  return report;
}

/**
 * A restored copy's filestore (extracted from the source's backup), anonymized where it is:
 * every file no row of the anonymized copy points at is removed — the business files, now
 * replaced by placeholders in the rows — and the placeholders are written. `removed` counts
 * the files removed, `copied` the files kept (module data and assets).
 */
export async function anonymizeFilestoreInPlace(input: {
  target: TenantLogin;
  dir: string;
  uid: number;
  gid: number;
}): Promise<AnonymizedFilestoreReport & { removed: number }> {
  const { fnames, replaced } = await referenced(input.target);
  const keep = new Set(fnames);
  const byFname = new Map(PLACEHOLDERS.map((p) => [p.storeFname, p]));
  const report = { written: 0, copied: 0, replaced, skipped: [] as string[], removed: 0 };
  let root = openTenantDir(input.dir, FILESTORE_TENANT_DEPTH);
  if (!root) {
    await mkdir(input.dir, { mode: 0o750 });
    await chown(input.dir, input.uid, input.gid);
    root = openTenantDir(input.dir, FILESTORE_TENANT_DEPTH);
  }
  if (!root) throw new Conflict(`${input.dir} disappeared while being created`);
  try {
    const dirs = new Set<string>();
    for (const e of (await walkTenantDir(root)).entries) {
      if (e.kind === "dir") dirs.add(e.rel);
      else if (keep.has(e.rel) && !byFname.has(e.rel)) report.copied++;
      else {
        await unlink(`${root.path}/${e.rel}`);
        report.removed++;
      }
    }
    for (const fname of fnames) {
      const p = byFname.get(fname);
      if (!p) continue;
      const sub = fname.split("/")[0] ?? "";
      if (!dirs.has(sub)) {
        await mkdir(`${root.path}/${sub}`, { mode: 0o750 });
        await chown(`${root.path}/${sub}`, input.uid, input.gid);
        dirs.add(sub);
      }
      await writeFile(`${root.path}/${fname}`, p.data, { mode: 0o640, flag: "wx" });
      await chown(`${root.path}/${fname}`, input.uid, input.gid);
      report.written++;
    }
  } finally {
    root.close();
  }
  return report;
}
