/**
 * git (and the tar/flock around it) as data. Every git call is non-interactive: no terminal
 * prompt for https credentials, ssh in BatchMode (a missing key fails at once instead of
 * waiting for a passphrase), and only the transports validateRepoUrl accepts, so a remote helper
 * smuggled in through config or a submodule cannot run either.
 */
import type { Command } from "../exec/command";
import { Invalid } from "../errors";

const NETWORK_TIMEOUT_MS = 30 * 60_000;
const LOCAL_TIMEOUT_MS = 10 * 60_000;
/** Seconds a fetch waits for another process fetching the same mirror. */
export const LOCK_WAIT_SEC = 30 * 60;

export const GIT_ENV: Record<string, string> = {
  GIT_TERMINAL_PROMPT: "0",
  GIT_ALLOW_PROTOCOL: "file:ssh:https",
};

/**
 * Where a clone or fetch goes and how it authenticates. The URL given to git never holds a
 * password: git would write it into the mirror's config (at rest, in clear) and echo it.
 */
export interface GitRemote {
  url: string;
  /** An https URL's user and password, sent as a Basic header set through git's environment. */
  basic?: { user: string; password: string };
  /**
   * ssh host keys are recorded (first contact) and checked here. It lives in odooops' state dir:
   * under the systemd unit (ProtectHome=read-only) ssh cannot write ~/.ssh/known_hosts, so a key
   * accepted there would never be pinned and every later fetch would trust any key again.
   */
  knownHostsFile: string;
}

const HTTPS_USERINFO = /^(https:\/\/)([^/@:]*):([^/]*)@/i;

/** `url` with the password of its user info (any scheme) replaced by `***`, for messages, logs and the API. */
export function displayUrl(url: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/]*)(.*)$/s.exec(url);
  if (!m) return url;
  const at = m[2].lastIndexOf("@");
  const colon = m[2].indexOf(":");
  if (at < 0 || colon < 0 || colon > at) return url;
  return `${m[1]}${m[2].slice(0, colon)}:***${m[2].slice(at)}${m[3]}`;
}

function decoded(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** The password of an https URL (as written and decoded), so echoes of the command and git's messages mask it. */
export function urlSecrets(url: string): string[] {
  const m = HTTPS_USERINFO.exec(url);
  return m && m[3] ? [m[3], decoded(m[3])].filter((v, i, all) => v.length > 0 && all.indexOf(v) === i) : [];
}

/** An https URL split into the URL without its password and that password (as written, percent-encoded). */
export function splitUrlPassword(url: string): { url: string; password: string | null } {
  const m = HTTPS_USERINFO.exec(url);
  if (!m || !m[3]) return { url, password: null };
  return { url: `${m[1]}${m[2]}@${url.slice(m[0].length)}`, password: m[3] };
}

/** The URL stored without its password, with the password put back (percent-encoded, as it was given). */
export function joinUrlPassword(url: string, password: string): string {
  const m = /^(https:\/\/)([^/@:]*)@/i.exec(url);
  if (!m) return url;
  return `${m[1]}${m[2]}:${password}@${url.slice(m[0].length)}`;
}

/** How git reaches `url` (which may carry a password) with host keys pinned in `knownHostsFile`. */
export function gitRemote(url: string, knownHostsFile: string): GitRemote {
  const m = HTTPS_USERINFO.exec(url);
  if (!m || !m[3]) return { url, knownHostsFile };
  // No user info at all in what git sees: with a bare user name git would ask for a password on a 401.
  return {
    url: `${m[1]}${url.slice(m[0].length)}`,
    basic: { user: decoded(m[2]), password: decoded(m[3]) },
    knownHostsFile,
  };
}

/** Paths end up inside GIT_SSH_COMMAND, which git runs through sh: only a plain alphabet, single-quoted. */
const SAFE_PATH = /^\/[A-Za-z0-9._+\/-]+$/;

function remoteEnv(remote: GitRemote): { env: Record<string, string>; redact: string[] } {
  if (!SAFE_PATH.test(remote.knownHostsFile))
    throw new Invalid(
      `known_hosts path ${JSON.stringify(remote.knownHostsFile)} has characters outside A-Z a-z 0-9 . _ + / -`,
    );
  const env: Record<string, string> = {
    ...GIT_ENV,
    // accept-new: the first contact records the host key (there is nobody to ask); a changed key fails.
    GIT_SSH_COMMAND: `ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile='${remote.knownHostsFile}' -o ConnectTimeout=30`,
  };
  if (!remote.basic) return { env, redact: [] };
  const token = Buffer.from(`${remote.basic.user}:${remote.basic.password}`).toString("base64");
  // Through the environment (git >= 2.31), so neither argv nor the mirror's config holds it.
  env.GIT_CONFIG_COUNT = "1";
  env.GIT_CONFIG_KEY_0 = "http.extraHeader";
  env.GIT_CONFIG_VALUE_0 = `Authorization: Basic ${token}`;
  return { env, redact: [remote.basic.password, token] };
}

function git(gitDir: string | null, args: string[], extra: Omit<Command, "argv"> = {}): Command {
  return {
    argv: ["git", ...(gitDir ? ["--git-dir", gitDir] : []), ...args],
    env: GIT_ENV,
    timeoutMs: LOCAL_TIMEOUT_MS,
    ...extra,
  };
}

export const gitCommands = {
  cloneMirror: (remote: GitRemote, dest: string): Command =>
    git(null, ["clone", "--mirror", "--", remote.url, dest], { timeoutMs: NETWORK_TIMEOUT_MS, ...remoteEnv(remote) }),
  fetch: (mirror: string, remote: GitRemote): Command =>
    git(mirror, ["fetch", "--prune", "origin"], { timeoutMs: NETWORK_TIMEOUT_MS, ...remoteEnv(remote) }),
  /** Exit 1 and no output when `rev` does not name a commit (`--quiet`). */
  revParse: (mirror: string, rev: string): Command =>
    git(mirror, ["rev-parse", "--verify", "--quiet", `${rev}^{commit}`]),
  remoteUrl: (mirror: string): Command => git(mirror, ["config", "--get", "remote.origin.url"]),
  /** Branch heads, most recently committed first: `<name> NUL <sha> NUL <date> NUL <subject>` a line. */
  branches: (mirror: string, count: number): Command =>
    git(mirror, [
      "for-each-ref",
      "--sort=-committerdate",
      `--count=${count}`,
      "--format=%(refname:lstrip=2)%00%(objectname)%00%(committerdate:iso-strict)%00%(subject)",
      "refs/heads/",
    ]),
  /** The newest commits of a branch: `<sha> NUL <date> NUL <author> NUL <subject>` a line. */
  log: (mirror: string, branch: string, count: number): Command =>
    git(mirror, ["log", `--max-count=${count}`, "--format=%H%x00%cI%x00%an%x00%s", `refs/heads/${branch}`, "--"]),
  /** `<mode> blob <oid>\t<path>` for a file at `sha`, nothing when the commit has no such path. */
  lsTree: (mirror: string, sha: string, path: string): Command =>
    git(mirror, ["ls-tree", "--full-tree", sha, "--", path]),
  catBlob: (mirror: string, oid: string): Command => git(mirror, ["cat-file", "blob", oid]),
  archive: (mirror: string, sha: string, tarFile: string): Command =>
    git(mirror, ["archive", "--format=tar", `--output=${tarFile}`, sha]),
  untar: (tarFile: string, dest: string): Command => ({
    argv: ["tar", "--extract", "--file", tarFile, "--directory", dest, "--no-same-owner"],
    timeoutMs: LOCAL_TIMEOUT_MS,
  }),
};

/**
 * Runs `cmd` holding an exclusive flock(1) on `lockFile`: the kernel drops the lock when the
 * process dies, so a crashed daemon never leaves a mirror locked.
 */
export function withFileLock(lockFile: string, cmd: Command, waitSec = LOCK_WAIT_SEC): Command {
  return {
    ...cmd,
    argv: ["flock", "--exclusive", "--wait", String(waitSec), lockFile, ...cmd.argv],
    timeoutMs: (cmd.timeoutMs ?? LOCAL_TIMEOUT_MS) + waitSec * 1000,
  };
}
