/**
 * git (and the tar/flock around it) as data. Every git call is non-interactive: no terminal
 * prompt for https credentials, ssh in BatchMode (a missing key fails at once instead of
 * waiting for a passphrase), and only the transports validateRepoUrl accepts, so a remote helper
 * smuggled in through config or a submodule cannot run either.
 */
import type { Command } from "../exec/command";

const NETWORK_TIMEOUT_MS = 30 * 60_000;
const LOCAL_TIMEOUT_MS = 10 * 60_000;
/** Seconds a fetch waits for another process fetching the same mirror. */
export const LOCK_WAIT_SEC = 30 * 60;

export const GIT_ENV: Record<string, string> = {
  GIT_TERMINAL_PROMPT: "0",
  // accept-new: the first contact records the host key (there is nobody to ask); a changed key
  // still fails.
  GIT_SSH_COMMAND: "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o ConnectTimeout=30",
  GIT_ALLOW_PROTOCOL: "file:ssh:https",
};

/** The password of an https URL, so echoes of the command and git's messages mask it. */
export function urlSecrets(url: string): string[] {
  const m = /^https:\/\/[^/@]*:([^/@]+)@/i.exec(url);
  return m ? [m[1], decodeURIComponent(m[1])].filter((v, i, all) => v.length > 0 && all.indexOf(v) === i) : [];
}

/** `url` with an https password replaced by `***`, for messages and logs. */
export function displayUrl(url: string): string {
  return url.replace(/^(https:\/\/[^/@:]*:)[^/@]+@/i, "$1***@");
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
  cloneMirror: (url: string, dest: string): Command =>
    git(null, ["clone", "--mirror", "--", url, dest], { timeoutMs: NETWORK_TIMEOUT_MS, redact: urlSecrets(url) }),
  fetch: (mirror: string, url: string): Command =>
    git(mirror, ["fetch", "--prune", "origin"], { timeoutMs: NETWORK_TIMEOUT_MS, redact: urlSecrets(url) }),
  /** Exit 1 and no output when `rev` does not name a commit (`--quiet`). */
  revParse: (mirror: string, rev: string): Command => git(mirror, ["rev-parse", "--verify", "--quiet", `${rev}^{commit}`]),
  remoteUrl: (mirror: string): Command => git(mirror, ["config", "--get", "remote.origin.url"]),
  /** `<mode> blob <oid>\t<path>` for a file at `sha`, nothing when the commit has no such path. */
  lsTree: (mirror: string, sha: string, path: string): Command => git(mirror, ["ls-tree", "--full-tree", sha, "--", path]),
  catBlob: (mirror: string, oid: string): Command => git(mirror, ["cat-file", "blob", oid]),
  archive: (mirror: string, sha: string, tarFile: string): Command => git(mirror, ["archive", "--format=tar", `--output=${tarFile}`, sha]),
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
