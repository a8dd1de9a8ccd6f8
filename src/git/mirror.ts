/**
 * One bare mirror per repository URL under `reposDir`, cloned once and fetched ever after, so a
 * deploy only transfers what is new. Builds read commits from the mirror (exportTree), never a
 * working copy.
 *
 * Concurrency: calls in this process for the same mirror are queued; across processes a fetch
 * holds flock(1) on `<mirror>.lock`, and a first clone goes to a private directory renamed into
 * place, so two clones racing cannot leave a half-written mirror where a complete one is expected.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { AppError, Conflict, Invalid, NotFound } from "../errors";
import { Secrets } from "../log";
import { run } from "../exec/run";
import { displayUrl, gitCommands, gitRemote, splitUrlPassword, urlSecrets, withFileLock } from "./commands";
import { assertLinksStayInside } from "./tree-links";
import { validateBranch, validateRepoUrl, validateSha } from "./validate";
import { pidAlive } from "../exec/pid";

export interface SyncMirrorOptions {
  reposDir: string;
  url: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

const queues = new Map<string, Promise<unknown>>();

/** Runs `fn` after every earlier call queued under `key` has settled. */
function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = queues.get(key) ?? Promise.resolve();
  const next = previous.then(fn, fn);
  const settled = next.then(
    () => undefined,
    () => undefined,
  );
  queues.set(key, settled);
  void settled.then(() => {
    if (queues.get(key) === settled) queues.delete(key);
  });
  return next;
}

/**
 * Directory of the mirror of `url`: stable, free of anything the URL contains, and the same
 * whatever password the URL carries (a rotated token keeps its mirror).
 */
export function mirrorPath(reposDir: string, url: string): string {
  return hashedMirrorPath(reposDir, splitUrlPassword(url).url);
}

function hashedMirrorPath(reposDir: string, key: string): string {
  return join(reposDir, `${createHash("sha256").update(key).digest("hex").slice(0, 16)}.git`);
}

/**
 * Mirrors cloned by earlier versions sit at the hash of the URL with its password, which their
 * config (remote.origin.url) holds in clear: removed, the new mirror is cloned without it.
 */
function removeLegacyMirror(reposDir: string, url: string): void {
  if (splitUrlPassword(url).password === null) return;
  const legacy = hashedMirrorPath(reposDir, url);
  if (isMirror(legacy)) rmSync(legacy, { recursive: true, force: true });
}

/** ssh host keys of every remote, in the state dir next to the mirrors (see GitRemote). */
export function knownHostsFile(reposDir: string): string {
  return join(reposDir, "known_hosts");
}

function isMirror(dir: string): boolean {
  return existsSync(join(dir, "HEAD")) && existsSync(join(dir, "objects")) && existsSync(join(dir, "refs"));
}

/** Partial clones of `mirror` left by processes that died mid-clone. */
function removeAbandonedClones(reposDir: string, mirror: string): void {
  const prefix = `${mirror.slice(reposDir.length + 1)}.partial-`;
  for (const name of readdirSync(reposDir)) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split("-")[0]);
    if (Number.isInteger(pid) && pid > 0 && !pidAlive(pid))
      rmSync(join(reposDir, name), { recursive: true, force: true });
  }
}

/** Clones or fetches the mirror of `opts.url`; returns the mirror's path. */
export async function syncMirror(opts: SyncMirrorOptions): Promise<string> {
  const url = validateRepoUrl(opts.url);
  Secrets.add(...urlSecrets(url));
  mkdirSync(opts.reposDir, { recursive: true, mode: 0o700 });
  const mirror = mirrorPath(opts.reposDir, url);
  const remote = gitRemote(url, knownHostsFile(opts.reposDir));
  removeLegacyMirror(opts.reposDir, url);
  const onLine = (_s: "stdout" | "stderr", line: string) => opts.log?.(line);
  const runOpts = { onLine, signal: opts.signal };

  const fetch = async () => {
    opts.log?.(`fetching ${displayUrl(url)}`);
    await run(withFileLock(`${mirror}.lock`, gitCommands.fetch(mirror, remote)), runOpts);
  };

  return serialized(mirror, async () => {
    if (isMirror(mirror)) {
      await fetch();
      return mirror;
    }
    if (existsSync(mirror)) {
      throw new Conflict(`${mirror} exists but is not a git mirror; remove it and deploy again`);
    }
    removeAbandonedClones(opts.reposDir, mirror);
    const partial = `${mirror}.partial-${process.pid}-${crypto.randomUUID().slice(0, 8)}`;
    opts.log?.(`cloning ${displayUrl(url)} into ${mirror}`);
    try {
      await run(gitCommands.cloneMirror(remote, partial), runOpts);
      try {
        renameSync(partial, mirror);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // Another process finished its clone first: theirs is complete, bring it up to date.
        if ((code !== "ENOTEMPTY" && code !== "EEXIST") || !isMirror(mirror)) throw e;
        await fetch();
      }
    } finally {
      rmSync(partial, { recursive: true, force: true });
    }
    return mirror;
  });
}

async function originUrl(mirror: string): Promise<string> {
  const r = await run(gitCommands.remoteUrl(mirror), { nothrow: true });
  return r.exitCode === 0 ? displayUrl(r.stdout.trim()) : mirror;
}

/** The full commit id for a commit (`sha` wins when both are given) or a branch head. */
export async function resolveCommit(mirror: string, ref: { sha?: string; branch?: string }): Promise<string> {
  if (!isMirror(mirror)) throw new NotFound(`no git mirror at ${mirror}; sync it first`);
  if (ref.sha !== undefined) {
    const sha = validateSha(ref.sha);
    const r = await run(gitCommands.revParse(mirror, sha), { nothrow: true });
    if (r.exitCode !== 0)
      throw new NotFound(`commit ${sha} not found in ${await originUrl(mirror)}; push it, or check the id`);
    return r.stdout.trim();
  }
  if (ref.branch !== undefined) {
    const branch = validateBranch(ref.branch);
    const r = await run(gitCommands.revParse(mirror, `refs/heads/${branch}`), { nothrow: true });
    if (r.exitCode !== 0) throw new NotFound(`branch ${branch} not found in ${await originUrl(mirror)}`);
    return r.stdout.trim();
  }
  throw new Invalid("no commit to resolve: give a sha or a branch");
}

/**
 * The tree of commit `sha` written into `dest` (created; must be absent or empty), without .git.
 * Honours `export-ignore` in the repository's .gitattributes, as `git archive` does. A tree with
 * a symbolic link leading out of it is refused (tree-links.ts); `dest` is then left for the
 * caller to remove, as after any failure.
 */
export async function exportTree(mirror: string, sha: string, dest: string): Promise<void> {
  const commit = validateSha(sha);
  if (existsSync(dest) && readdirSync(dest).length > 0) throw new Conflict(`export target ${dest} is not empty`);
  mkdirSync(dest, { recursive: true });
  const tar = `${dest}.export-${crypto.randomUUID().slice(0, 8)}.tar`;
  try {
    const full = await resolveCommit(mirror, { sha: commit });
    await run(gitCommands.archive(mirror, full, tar));
    await run(gitCommands.untar(tar, dest));
    assertLinksStayInside(dest, `commit ${full.slice(0, 12)}`);
  } finally {
    rmSync(tar, { force: true });
  }
}

/** The text of `path` at commit `sha`, or null when that commit has no such file. */
export async function readFileAt(mirror: string, sha: string, path: string): Promise<string | null> {
  const commit = validateSha(sha);
  if (path.startsWith("-") || path.startsWith("/") || path.split("/").includes(".."))
    throw new Invalid(`invalid repository path ${JSON.stringify(path)}`);
  const listed = (await run(gitCommands.lsTree(mirror, commit, path))).stdout.trim();
  const m = /^(\d+) blob ([0-9a-f]{40,64})\t/.exec(listed);
  if (!m) return null;
  // 120000 is a symbolic link: its blob is the link's target, not a file of the repository.
  if (m[1] === "120000")
    throw new Invalid(`${path} at ${commit.slice(0, 12)} is a symbolic link; it must be a regular file`);
  return (await run(gitCommands.catBlob(mirror, m[2] as string))).stdout;
}

/**
 * A configuration file of the repository (`.odooops/*.yaml`) at `sha`, parsed; null when the
 * commit has none. A parse error names the commit, so the author knows which version to fix.
 */
export async function parseFileAt<T>(
  mirror: string,
  sha: string,
  path: string,
  parse: (text: string) => T,
): Promise<{ value: T; text: string } | null> {
  const text = await readFileAt(mirror, sha, path);
  if (text === null) return null;
  try {
    return { value: parse(text), text };
  } catch (err) {
    if (err instanceof AppError) throw new Invalid(`commit ${sha.slice(0, 12)}: ${err.message}`, err.details);
    throw err;
  }
}
