/**
 * Directories the tenant owns (the env's data dir is mounted into its Odoo container, which can
 * replace `filestore` or `filestore/<db>` by a symbolic link at any moment). The daemon walks
 * them as root, so a link there would make a backup, export, clone or size archive whatever host
 * directory it names. Each tenant-owned component is opened with O_NOFOLLOW, one at a time
 * through the previous component's descriptor, and the result is handed to our own reads and
 * to child processes as `/proc/<pid>/fd/<n>`: that names the opened directory itself, so
 * swapping a link in after the check changes nothing.
 */
import { closeSync, constants, fstatSync, openSync, realpathSync } from "node:fs";
import { chmod, chown, copyFile, lstat, mkdir, open, readdir, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Invalid } from "../../errors";

export interface PinnedDir {
  /** `/proc/<pid>/fd/<n>`: the opened directory, for our reads and for child processes. */
  path: string;
  /** The directory's device: walks compare against it to stay on one filesystem. */
  dev: number;
  close(): void;
}

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** A filestore is `<data dir>/filestore/<db>`: the last two components belong to the tenant. */
export const FILESTORE_TENANT_DEPTH = 2;

/**
 * Opens `dir`, whose last `tenantDepth` components are tenant-owned (everything above is the
 * host's and resolved normally). Null when a component does not exist; Invalid when one is a
 * symbolic link or not a directory.
 */
export function openTenantDir(dir: string, tenantDepth: number): PinnedDir | null {
  const names: string[] = [];
  let base = dir;
  for (let i = 0; i < tenantDepth; i++) {
    names.unshift(basename(base));
    base = dirname(base);
  }
  let fd: number;
  try {
    fd = openSync(realpathSync(base), DIR_FLAGS);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  let at = base;
  for (const name of names) {
    at = join(at, name);
    let next: number;
    try {
      next = openSync(`/proc/self/fd/${fd}/${name}`, DIR_FLAGS);
    } catch (e) {
      closeSync(fd);
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return null;
      if (code === "ELOOP" || code === "ENOTDIR")
        throw new Invalid(
          `${at} is a symbolic link or not a directory; odooops does not follow links in an environment's files`,
        );
      throw e;
    }
    closeSync(fd);
    fd = next;
  }
  const held = fd;
  let open = true;
  const close = () => {
    if (open) closeSync(held);
    open = false;
  };
  return { path: `/proc/${process.pid}/fd/${held}`, dev: fstatSync(held).dev, close };
}

export interface TenantEntry {
  /** Relative to the walked directory, `/`-separated. */
  rel: string;
  kind: "dir" | "file";
  dev: number;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
}

export interface TenantWalk {
  /** Directories before what they contain, names sorted. */
  entries: TenantEntry[];
  /** Symbolic links, devices, sockets, FIFOs and other filesystems' mount points: never entered, never copied. */
  skipped: string[];
}

function entryOf(
  rel: string,
  kind: TenantEntry["kind"],
  st: { dev: number; ino: number; mode: number; uid: number; gid: number },
): TenantEntry {
  return { rel, kind, dev: st.dev, ino: st.ino, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
}

/**
 * Every directory and regular file under `root`, on its filesystem only. Each subdirectory is
 * opened with O_NOFOLLOW through its parent's descriptor before it is listed, so a directory
 * swapped for a link mid-walk is refused instead of listed.
 */
export async function walkTenantDir(root: PinnedDir): Promise<TenantWalk> {
  const out: TenantWalk = { entries: [], skipped: [] };
  const walk = async (dirPath: string, prefix: string): Promise<void> => {
    const names = (await readdir(dirPath)).sort();
    for (const name of names) {
      const rel = prefix ? `${prefix}/${name}` : name;
      const st = await lstat(`${dirPath}/${name}`);
      if (st.isFile() && st.dev === root.dev) out.entries.push(entryOf(rel, "file", st));
      else if (st.isDirectory() && st.dev === root.dev) {
        let handle: FileHandle;
        try {
          handle = await open(`${dirPath}/${name}`, DIR_FLAGS);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === "ELOOP" || code === "ENOTDIR")
            throw new Invalid(`${rel} was replaced by a symbolic link while being read`);
          throw e;
        }
        try {
          const held = await handle.stat();
          if (held.ino !== st.ino || held.dev !== st.dev) throw new Invalid(`${rel} was replaced while being read`);
          out.entries.push(entryOf(rel, "dir", st));
          await walk(`/proc/self/fd/${handle.fd}`, rel);
        } finally {
          await handle.close();
        }
      } else out.skipped.push(rel);
    }
  };
  await walk(root.path, "");
  return out;
}

/**
 * Opens a file `walkTenantDir` listed, refusing anything but that very file (same device and
 * inode): a component swapped for a link since the walk cannot redirect the read.
 */
export async function openTenantFile(root: PinnedDir, entry: TenantEntry): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(`${root.path}/${entry.rel}`, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ELOOP") throw new Invalid(`${entry.rel} was replaced by a symbolic link while being read`);
    throw e;
  }
  const st = await handle.stat();
  if (!st.isFile() || st.ino !== entry.ino || st.dev !== entry.dev) {
    await handle.close();
    throw new Invalid(`${entry.rel} was replaced while being read`);
  }
  return handle;
}

/**
 * Copies a tenant's directory into `target` (created; must not exist), keeping modes and
 * owners. Every file is a new inode: copy_file_range/FICLONE share extents copy-on-write where
 * the filesystem can (btrfs, XFS), a plain copy elsewhere, never a hard link — no two envs may
 * share a writable inode. Links and special files are skipped (returned).
 */
export async function copyTenantDir(root: PinnedDir, target: string): Promise<{ files: number; skipped: string[] }> {
  const { entries, skipped } = await walkTenantDir(root);
  const top = await lstat(`${root.path}/.`);
  await mkdir(target, { mode: top.mode & 0o7777 });
  await chown(target, top.uid, top.gid);
  await chmod(target, top.mode & 0o7777);
  let files = 0;
  for (const e of entries) {
    const to = join(target, e.rel);
    if (e.kind === "dir") await mkdir(to, { mode: e.mode });
    else {
      const handle = await openTenantFile(root, e);
      try {
        // The descriptor's /proc name reopens that very inode, whatever happens to the path.
        await copyFile(`/proc/self/fd/${handle.fd}`, to, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
      } finally {
        await handle.close();
      }
      files++;
    }
    // chown clears set-id bits: the mode goes last, exactly as the source has it.
    await chown(to, e.uid, e.gid);
    await chmod(to, e.mode);
  }
  return { files, skipped };
}

/**
 * Removes from a directory we just extracted every entry that is neither a regular file nor a
 * directory: an archive's links must not become links in a tenant's filestore (a later
 * host-side reader could follow them, and the tenant would see where they point).
 */
export async function pruneToFilesAndDirs(dir: string): Promise<string[]> {
  const removed: string[] = [];
  const walk = async (d: string, prefix: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(join(d, entry.name), rel);
      else if (!entry.isFile()) {
        await unlink(join(d, entry.name));
        removed.push(rel);
      }
    }
  };
  await walk(dir, "");
  return removed.sort();
}
