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
import { Invalid } from "../errors";
import { assertIdent } from "../host/postgres/quote";
import type { PgAdmin } from "./backup";
import { FILESTORE_TENANT_DEPTH, openTenantDir, openTenantFile, walkTenantDir, type PinnedDir, type TenantEntry } from "./backup/tenant-dir";

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
export function odooDumpManifest(dbName: string, series: string, pgVersionNum: number, modules: { name: string; version: string | null }[]): OdooDumpManifest {
  const [major, minor] = series.replace(/^saas~/, "").split(".").map(Number);
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

/**
 * Runs a plain dump into `db` as `role` (so the env's role owns what it creates), in one
 * transaction that stops at the first error: a dump that does not load leaves nothing half-done.
 */
export function psqlLoad(pg: PgAdmin, db: string, role: string, file: string): Command {
  return {
    argv: [
      "psql", ...connArgs(pg), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction",
      "-d", assertIdent(db, "database"), "-c", `SET ROLE ${assertIdent(role, "role")}`, "-f", file,
    ],
    env: pgEnv(pg, "odooops-import"),
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
    zip.addReadStream(Readable.fromWeb(dump.stdout as import("node:stream/web").ReadableStream<Uint8Array>), "dump.sql");
    const files = root ? (await walkTenantDir(root)).entries.filter((e) => e.kind === "file") : [];
    if (root) for (const entry of files) zip.addReadStream(Readable.from(tenantFileChunks(root, entry)), `filestore/${entry.rel}`);
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
  return new Promise((resolve, reject) => yauzl.open(path, { lazyEntries: true, autoClose: false }, (err, zip) => (err ? reject(err) : resolve(zip))));
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
  if (norm.startsWith("../") || norm === ".." || posix.isAbsolute(norm) || norm.includes("\0")) throw new Invalid(`zip entry ${JSON.stringify(entryName)} points outside the filestore`);
  return norm;
}

export interface ReadZipResult {
  manifest: OdooDumpManifest | null;
  files: number;
}

/**
 * Extracts `dump.sql` to `sqlOut` and `filestore/**` into `filestoreDir` (which must exist).
 * manifest.json is optional (older exports lack it); dump.sql is not.
 */
export async function readOdooZip(path: string, sqlOut: string, filestoreDir: string): Promise<ReadZipResult> {
  const zip = await openZip(path).catch((e: unknown) => {
    throw new Invalid(`${path} is not a readable zip: ${e instanceof Error ? e.message : String(e)}`);
  });
  let manifest: OdooDumpManifest | null = null;
  let files = 0;
  let sawDump = false;
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on("error", reject);
      zip.on("end", () => resolve());
      zip.on("entry", (entry: yauzl.Entry) => {
        void (async () => {
          const name = entry.fileName;
          if (name === "dump.sql") {
            sawDump = true;
            await pipeline(await entryStream(zip, entry), createWriteStream(sqlOut, { mode: 0o600 }));
          } else if (name === "manifest.json") {
            const text = await new Response(Readable.toWeb(await entryStream(zip, entry)) as ReadableStream).text();
            const parsed = OdooDumpManifest.safeParse(JSON.parse(text));
            if (!parsed.success) throw new Invalid(`${path}: manifest.json is not an Odoo dump manifest: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
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
          zip.readEntry();
        })().catch(reject);
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
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
