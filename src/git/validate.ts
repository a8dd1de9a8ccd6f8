/**
 * Repository URLs, branch names and commit ids arrive from users, config and webhooks and end up
 * as git arguments: anything not plainly safe is rejected, never "cleaned up". Git's own
 * transports are the attack surface here (`ext::sh -c …` runs a program, a host or path that
 * starts with `-` becomes an ssh or git option), so only four URL shapes are accepted.
 */
import { Invalid } from "../errors";
import { displayUrl } from "./commands";

const MAX_URL = 2048;
const MAX_BRANCH = 255;
/** Everything outside printable ASCII, plus space: control chars, RTL overrides, zero-width joiners. */
const UNSAFE_CHARS = /[^\x21-\x7e]/;
const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])$/;
/** Percent-encode anything else (tokens are plain alphanumerics in practice). */
const USER = /^[A-Za-z0-9._~%+-]+$/;
const PATH_CHARS = /^[A-Za-z0-9._~%\/+@:=,-]+$/;
const SCP_LIKE = /^([^@/:]+)@([^/:]+):(.+)$/;

const SHAPES = "file:///absolute/path, ssh://[user@]host[:port]/path, https://host/path or user@host:path";

function invalidUrl(url: string, why: string): never {
  const shown = displayUrl(url);
  throw new Invalid(
    `invalid repository URL ${JSON.stringify(shown.length > 80 ? `${shown.slice(0, 60)}…` : shown)}: ${why}; use ${SHAPES}`,
  );
}

function checkPath(url: string, path: string): void {
  if (!PATH_CHARS.test(path)) invalidUrl(url, "the path has characters outside A-Z a-z 0-9 . _ ~ % / + @ : = , -");
  if (path.split("/").some((seg) => seg === "..")) invalidUrl(url, 'the path may not contain ".." segments');
  if (path.startsWith("-") || path.split("/").some((seg) => seg.startsWith("-"))) {
    invalidUrl(url, 'no path segment may start with "-" (it would be read as an option)');
  }
}

function checkAuthority(url: string, authority: string, allowPassword: boolean): void {
  const at = authority.lastIndexOf("@");
  const userInfo = at >= 0 ? authority.slice(0, at) : null;
  let hostPort = at >= 0 ? authority.slice(at + 1) : authority;
  if (userInfo !== null) {
    const [user, password, ...rest] = userInfo.split(":");
    if (rest.length > 0 || !USER.test(user) || user.startsWith("-")) invalidUrl(url, "the user name is not valid");
    if (password !== undefined && (!allowPassword || !USER.test(password))) {
      invalidUrl(url, allowPassword ? "the password is not valid" : "ssh URLs take no password (use a deploy key)");
    }
  }
  const port = /^(.*?)(?::(\d{1,5}))?$/.exec(hostPort);
  if (port?.[2] !== undefined) {
    const n = Number(port[2]);
    if (n < 1 || n > 65535) invalidUrl(url, `port ${port[2]} is out of range`);
    hostPort = port[1];
  }
  if (!HOST.test(hostPort)) invalidUrl(url, `host ${JSON.stringify(hostPort)} is not a valid host name`);
}

/** A git remote odooops may fetch from; returned unchanged when valid. */
export function validateRepoUrl(url: string): string {
  if (url.length === 0) throw new Invalid(`repository URL is empty; use ${SHAPES}`);
  if (url.length > MAX_URL) invalidUrl(url, `longer than ${MAX_URL} characters`);
  if (UNSAFE_CHARS.test(url)) invalidUrl(url, "spaces, control and non-ASCII characters are not allowed");
  if (url.startsWith("-")) invalidUrl(url, 'it may not start with "-"');
  if (/^[A-Za-z0-9+.-]*::/.test(url)) invalidUrl(url, "git remote helpers (<transport>::<address>) are not allowed");

  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/.exec(url);
  if (scheme) {
    const kind = scheme[1].toLowerCase();
    const rest = scheme[2];
    if (kind === "file") {
      if (!rest.startsWith("/")) invalidUrl(url, "file URLs take no host: file:///absolute/path");
      const path = rest.replace(/^\/+/, "/");
      if (path === "/") invalidUrl(url, "the path is empty");
      checkPath(url, path);
      return url;
    }
    if (kind !== "ssh" && kind !== "https") {
      invalidUrl(
        url,
        kind === "http" || kind === "git"
          ? `${kind}:// is unauthenticated and unencrypted`
          : `unsupported scheme ${kind}://`,
      );
    }
    const slash = rest.indexOf("/");
    if (slash <= 0) invalidUrl(url, "a host and a path are required");
    const authority = rest.slice(0, slash);
    const path = rest.slice(slash);
    if (/[?#]/.test(path)) invalidUrl(url, "query strings and fragments are not allowed");
    checkAuthority(url, authority, kind === "https");
    if (path.length < 2) invalidUrl(url, "the path is empty");
    checkPath(url, path);
    return url;
  }

  const scp = SCP_LIKE.exec(url);
  if (scp) {
    const [, user, host, path] = scp;
    if (!USER.test(user) || user.startsWith("-")) invalidUrl(url, "the user name is not valid");
    if (!HOST.test(host)) invalidUrl(url, `host ${JSON.stringify(host)} is not a valid host name`);
    checkPath(url, path);
    return url;
  }
  if (url.startsWith("/")) invalidUrl(url, `a local path needs the file:// scheme (file://${url})`);
  invalidUrl(url, "not a URL odooops can fetch from");
}

const BRANCH_CHARS = /^[A-Za-z0-9._\/+-]+$/;

/**
 * A branch name by `git check-ref-format --branch` rules, restricted to a plain ASCII alphabet
 * (no shell metacharacters, no look-alike or invisible Unicode). `refs/heads/x` is taken as `x`.
 */
export function validateBranch(name: string): string {
  const branch = name.startsWith("refs/heads/") ? name.slice("refs/heads/".length) : name;
  const fail = (why: string): never => {
    throw new Invalid(`invalid branch ${JSON.stringify(name)}: ${why}`);
  };
  if (branch.length === 0) fail("empty");
  if (branch.length > MAX_BRANCH) fail(`longer than ${MAX_BRANCH} characters`);
  if (!BRANCH_CHARS.test(branch)) fail("use ASCII letters, digits and . _ / + - only");
  if (branch.startsWith("-")) fail('it may not start with "-"');
  if (branch.includes("..")) fail('".." is not allowed');
  if (branch.startsWith("/") || branch.endsWith("/") || branch.includes("//")) fail("empty path component");
  if (branch.endsWith(".")) fail('it may not end with "."');
  if (branch === "HEAD") fail("HEAD is not a branch");
  for (const part of branch.split("/")) {
    if (part.startsWith(".")) fail('no component may start with "."');
    if (part.endsWith(".lock")) fail('no component may end with ".lock"');
  }
  return branch;
}

/** A full or abbreviated (≥ 7) commit id, lowercased. */
export function validateSha(sha: string): string {
  if (!/^[0-9a-fA-F]{7,40}$/.test(sha)) {
    throw new Invalid(
      `invalid commit ${JSON.stringify(sha.length > 60 ? sha.slice(0, 60) + "…" : sha)}: 7 to 40 hexadecimal characters`,
    );
  }
  return sha.toLowerCase();
}
