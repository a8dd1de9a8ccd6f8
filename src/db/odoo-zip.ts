/**
 * The zip Odoo's database manager (and Odoo.sh) exports and imports: `dump.sql` (plain SQL,
 * `pg_dump --no-owner`), `filestore/` (the database's filestore tree) and `manifest.json`
 * (Odoo's `dump_db_manifest` fields). Written with yazl and read with yauzl (both ZIP64: dumps
 * and filestores pass 4 GB); the dump streams from pg_dump's stdout straight into the zip.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import { dirname, join, posix } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { SQL } from "bun";
import yauzl from "yauzl";
import yazl from "yazl";
import { z } from "zod";
import type { Command } from "../exec/command";
import { spawnStreaming } from "../exec/run";
import { Invalid, errorText, issuesText } from "../errors";
import { assertIdent } from "../host/postgres/quote";
import type { PgAdmin } from "./backup";
import {
  FILESTORE_TENANT_DEPTH,
  openTenantDir,
  openTenantFile,
  walkTenantDir,
  type PinnedDir,
  type TenantEntry,
} from "./backup/tenant-dir";
import { assertFreeSpace, formatBytes } from "./space";

const DAY_MS = 24 * 3600_000;

export const OdooDumpManifest = z.looseObject({
  odoo_dump: z.literal("1"),
  db_name: z.string(),
  version: z.string(),
  version_info: z.array(z.union([z.string(), z.number()])),
  major_version: z.string(),
  pg_version: z.string(),
  modules: z.record(z.string(), z.string().nullable()),
});
export type OdooDumpManifest = z.infer<typeof OdooDumpManifest>;

/** Odoo's manifest for a database of `series` ("17.0"); `pgVersionNum` is server_version_num (150004). */
export function odooDumpManifest(
  dbName: string,
  series: string,
  pgVersionNum: number,
  modules: { name: string; version: string | null }[],
): OdooDumpManifest {
  const [major, minor] = series
    .replace(/^saas~/, "")
    .split(".")
    .map(Number);
  return {
    odoo_dump: "1",
    db_name: dbName,
    version: series,
    version_info: [major ?? 0, minor ?? 0, 0, "final", 0, ""],
    major_version: series,
    // What Odoo writes: "%d.%d" % divmod(server_version / 100, 100).
    pg_version: `${Math.floor(pgVersionNum / 10000)}.${Math.floor(pgVersionNum / 100) % 100}`,
    modules: Object.fromEntries(modules.map((m) => [m.name, m.version])),
  };
}

function pgEnv(pg: PgAdmin, app: string): Record<string, string> {
  return { PGPASSWORD: pg.password, PGCONNECT_TIMEOUT: "15", PGAPPNAME: app };
}

function connArgs(pg: PgAdmin): string[] {
  return ["-h", pg.host, "-p", String(pg.port), "-U", pg.user, "--no-password"];
}

/** Plain SQL to stdout, as Odoo's `dump_db` runs it (`--no-owner`; privileges name this host's roles). */
export function pgDumpPlain(pg: PgAdmin, db: string): Command {
  return {
    argv: ["pg_dump", "-Fp", "--no-owner", "--no-privileges", ...connArgs(pg), "-d", assertIdent(db, "database")],
    env: pgEnv(pg, "odooops-export"),
    redact: [pg.password],
    timeoutMs: DAY_MS,
  };
}

/** Every regular file under `dir`, as paths relative to it, sorted; a missing dir has none. */
export async function filesUnder(dir: string, prefix = ""): Promise<string[]> {
  const entries = await readdir(join(dir, prefix), { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return [];
    throw e;
  });
  const out: string[] = [];
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await filesUnder(dir, rel)));
    else if (e.isFile()) out.push(rel);
  }
  return out;
}

export interface WriteZipInput {
  pg: PgAdmin;
  dbName: string;
  filestoreDir: string;
  manifest: OdooDumpManifest;
  out: string;
  signal?: AbortSignal;
}

/** Writes the zip to `out`; returns the number of filestore files. Removes `out` on failure. */
export async function writeOdooZip(input: WriteZipInput): Promise<{ files: number }> {
  // The tenant's filestore, pinned and walked without following links (tenant-dir.ts): links and
  // special files are left out of the zip, and each file is read only if it is the one listed.
  const root = openTenantDir(input.filestoreDir, FILESTORE_TENANT_DEPTH);
  const zip = new yazl.ZipFile();
  const written = pipeline(zip.outputStream, createWriteStream(input.out, { mode: 0o600 }));
  const dump = spawnStreaming(pgDumpPlain(input.pg, input.dbName), { signal: input.signal });
  try {
    zip.addReadStream(
      Readable.fromWeb(dump.stdout as import("node:stream/web").ReadableStream<Uint8Array>),
      "dump.sql",
    );
    const files = root ? (await walkTenantDir(root)).entries.filter((e) => e.kind === "file") : [];
    if (root)
      for (const entry of files)
        zip.addReadStream(Readable.from(tenantFileChunks(root, entry)), `filestore/${entry.rel}`);
    zip.addBuffer(Buffer.from(JSON.stringify(input.manifest, null, 4)), "manifest.json");
    zip.end();
    await Promise.all([written, dump.done()]);
    return { files: files.length };
  } catch (e) {
    dump.proc.kill();
    (zip.outputStream as unknown as Readable).destroy();
    await written.catch(() => undefined);
    await rm(input.out, { force: true });
    throw e;
  } finally {
    root?.close();
  }
}

const CHUNK = 1024 * 1024;

/** A file's bytes, opened only when the zip reaches it (one descriptor at a time). */
async function* tenantFileChunks(root: PinnedDir, entry: TenantEntry): AsyncGenerator<Buffer> {
  const handle = await openTenantFile(root, entry);
  try {
    for (;;) {
      const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafe(CHUNK), 0, CHUNK, null);
      if (bytesRead === 0) return;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

function openZip(path: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.open(path, { lazyEntries: true, autoClose: false }, (err, zip) => (err ? reject(err) : resolve(zip))),
  );
}

function entryStream(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((resolve, reject) => zip.openReadStream(entry, (err, s) => (err ? reject(err) : resolve(s))));
}

/** `filestore/ab/ab12…` → `ab/ab12…`; null for other entries. Names escaping the tree are refused. */
export function filestorePath(entryName: string): string | null {
  if (!entryName.startsWith("filestore/")) return null;
  const rel = entryName.slice("filestore/".length);
  if (rel === "" || rel.endsWith("/")) return null;
  const norm = posix.normalize(rel);
  if (norm.startsWith("../") || norm === ".." || posix.isAbsolute(norm) || norm.includes("\0"))
    throw new Invalid(`zip entry ${JSON.stringify(entryName)} points outside the filestore`);
  return norm;
}

export interface ReadZipResult {
  manifest: OdooDumpManifest | null;
  files: number;
}

export interface ZipLimits {
  maxEntries: number;
  /** Sum of the entries' uncompressed sizes. */
  maxUnpackedBytes: number;
}

/** Read into memory whole: Odoo's is a few KiB. */
const MAX_MANIFEST_BYTES = 1024 * 1024;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

function isSymlink(entry: yauzl.Entry): boolean {
  return ((entry.externalFileAttributes >>> 16) & S_IFMT) === S_IFLNK;
}

/** Calls `onEntry` for each entry in order (one at a time); yauzl refuses absolute and `..` names. */
async function eachEntry(
  path: string,
  onEntry: (zip: yauzl.ZipFile, entry: yauzl.Entry) => Promise<void>,
): Promise<void> {
  const zip = await openZip(path).catch((e: unknown) => {
    throw new Invalid(`${path} is not a readable zip: ${errorText(e)}`);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on("error", (e: Error) => reject(new Invalid(`${path}: ${e.message}`)));
      zip.on("end", () => resolve());
      zip.on("entry", (entry: yauzl.Entry) => {
        void onEntry(zip, entry)
          .then(() => zip.readEntry())
          .catch(reject);
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
}

/**
 * Reads the central directory only and refuses, before a byte is written: more entries than
 * allowed, a total uncompressed size over the limit (zip bombs; yauzl then checks that every
 * entry inflates to exactly its declared size), symlink entries, names escaping the tree.
 * Returns the bytes dump.sql and the filestore will take.
 */
async function checkZip(path: string, limits: ZipLimits): Promise<{ dumpBytes: number; filestoreBytes: number }> {
  const zip = await openZip(path).catch((e: unknown) => {
    throw new Invalid(`${path} is not a readable zip: ${errorText(e)}`);
  });
  const entries = zip.entryCount;
  zip.close();
  if (entries > limits.maxEntries)
    throw new Invalid(`the zip has ${entries} entries, more than imports.maxZipEntries (${limits.maxEntries})`);
  let dumpBytes = 0;
  let filestoreBytes = 0;
  let total = 0;
  await eachEntry(path, async (_zip, entry) => {
    if (isSymlink(entry)) throw new Invalid(`zip entry ${JSON.stringify(entry.fileName)} is a symlink: refused`);
    if (entry.fileName === "manifest.json" && entry.uncompressedSize > MAX_MANIFEST_BYTES)
      throw new Invalid(`manifest.json is ${formatBytes(entry.uncompressedSize)}: not an Odoo manifest`);
    if (entry.fileName === "dump.sql") dumpBytes += entry.uncompressedSize;
    else if (filestorePath(entry.fileName) !== null) filestoreBytes += entry.uncompressedSize;
    total += entry.uncompressedSize;
    if (total > limits.maxUnpackedBytes) {
      throw new Invalid(
        `the zip unpacks to more than ${formatBytes(total)} uncompressed, over imports.maxUnpackedMb (${formatBytes(limits.maxUnpackedBytes)})`,
      );
    }
  });
  return { dumpBytes, filestoreBytes };
}

/**
 * Extracts `dump.sql` to `sqlOut` and `filestore/**` into `filestoreDir` (which must exist),
 * after checkZip and a free space check on both targets. manifest.json is optional (older
 * exports lack it); dump.sql is not.
 */
export async function readOdooZip(
  path: string,
  sqlOut: string,
  filestoreDir: string,
  limits: ZipLimits,
): Promise<ReadZipResult> {
  const sizes = await checkZip(path, limits);
  assertFreeSpace("the unpacked zip", [
    { path: sqlOut, bytes: sizes.dumpBytes },
    { path: filestoreDir, bytes: sizes.filestoreBytes },
  ]);
  let manifest: OdooDumpManifest | null = null;
  let files = 0;
  let sawDump = false;
  await eachEntry(path, async (zip, entry) => {
    const name = entry.fileName;
    if (name === "dump.sql") {
      sawDump = true;
      await pipeline(await entryStream(zip, entry), createWriteStream(sqlOut, { mode: 0o600 }));
    } else if (name === "manifest.json") {
      const text = await new Response(Readable.toWeb(await entryStream(zip, entry)) as ReadableStream).text();
      const parsed = OdooDumpManifest.safeParse(JSON.parse(text));
      if (!parsed.success)
        throw new Invalid(`${path}: manifest.json is not an Odoo dump manifest: ${issuesText(parsed.error)}`);
      manifest = parsed.data;
    } else {
      const rel = filestorePath(name);
      if (rel !== null) {
        const target = join(filestoreDir, rel);
        await mkdir(dirname(target), { recursive: true });
        await pipeline(await entryStream(zip, entry), createWriteStream(target));
        files++;
      }
    }
  });
  if (!sawDump) throw new Invalid(`${path} has no dump.sql: not a database export of Odoo's database manager`);
  return { manifest, files };
}

/** A custom-format dump starts with "PGDMP"; a zip with "PK". */
export async function sniffUpload(path: string): Promise<"zip" | "dump"> {
  const head = Buffer.alloc(5);
  const stream = createReadStream(path, { start: 0, end: 4 });
  let n = 0;
  for await (const chunk of stream) n += (chunk as Buffer).copy(head, n);
  const magic = head.subarray(0, n).toString("latin1");
  if (magic.startsWith("PK")) return "zip";
  if (magic === "PGDMP") return "dump";
  throw new Invalid("the upload is neither a zip (Odoo's database manager export) nor a pg_dump custom-format .dump");
}

/** server_version_num of the connection's server (150004 for 15.4). */
export async function serverVersionNum(sql: SQL): Promise<number> {
  const [row] = await sql<{ v: string }[]>`SELECT current_setting('server_version_num') AS v`;
  return Number(row?.v ?? 0);
}
