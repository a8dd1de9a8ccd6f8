import { describe, expect, test } from "bun:test";
import { displayUrl, GIT_ENV, gitCommands, urlSecrets, withFileLock } from "../../src/git/commands";

describe("git command builders", () => {
  test("clone and fetch: non-interactive, argv only, secrets masked", () => {
    const url = "https://x-access-token:ghs_tok%2Fen@github.com/acme/addons.git";
    const clone = gitCommands.cloneMirror(url, "/var/lib/odooops/git/ab.git.partial-1-x");
    expect(clone.argv).toEqual(["git", "clone", "--mirror", "--", url, "/var/lib/odooops/git/ab.git.partial-1-x"]);
    expect(clone.redact).toEqual(["ghs_tok%2Fen", "ghs_tok/en"]);
    expect(clone.env).toEqual({
      GIT_TERMINAL_PROMPT: "0",
      GIT_SSH_COMMAND: "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o ConnectTimeout=30",
      GIT_ALLOW_PROTOCOL: "file:ssh:https",
    });
    const fetch = gitCommands.fetch("/r/ab.git", "git@github.com:acme/addons.git");
    expect(fetch.argv).toEqual(["git", "--git-dir", "/r/ab.git", "fetch", "--prune", "origin"]);
    expect(fetch.redact).toEqual([]);
    expect(fetch.env).toBe(GIT_ENV);
  });

  test("rev-parse, remote url, archive, untar", () => {
    expect(gitCommands.revParse("/r/ab.git", "refs/heads/main").argv).toEqual([
      "git", "--git-dir", "/r/ab.git", "rev-parse", "--verify", "--quiet", "refs/heads/main^{commit}",
    ]);
    expect(gitCommands.remoteUrl("/r/ab.git").argv).toEqual(["git", "--git-dir", "/r/ab.git", "config", "--get", "remote.origin.url"]);
    expect(gitCommands.archive("/r/ab.git", "0123456789abcdef0123456789abcdef01234567", "/w/x.tar").argv).toEqual([
      "git", "--git-dir", "/r/ab.git", "archive", "--format=tar", "--output=/w/x.tar", "0123456789abcdef0123456789abcdef01234567",
    ]);
    expect(gitCommands.untar("/w/x.tar", "/w/ctx").argv).toEqual([
      "tar", "--extract", "--file", "/w/x.tar", "--directory", "/w/ctx", "--no-same-owner",
    ]);
  });

  test("withFileLock wraps in flock and extends the timeout by the wait", () => {
    const c = withFileLock("/r/ab.git.lock", gitCommands.fetch("/r/ab.git", "file:///srv/a"), 60);
    expect(c.argv).toEqual(["flock", "--exclusive", "--wait", "60", "/r/ab.git.lock", "git", "--git-dir", "/r/ab.git", "fetch", "--prune", "origin"]);
    expect(c.timeoutMs).toBe(30 * 60_000 + 60_000);
    expect(c.env).toBe(GIT_ENV);
  });

  test("https passwords never reach messages", () => {
    expect(displayUrl("https://bot:s3cret@github.com/a/b.git")).toBe("https://bot:***@github.com/a/b.git");
    expect(displayUrl("https://github.com/a/b.git")).toBe("https://github.com/a/b.git");
    expect(displayUrl("git@github.com:a/b.git")).toBe("git@github.com:a/b.git");
    expect(urlSecrets("https://bot@github.com/a/b.git")).toEqual([]);
    expect(urlSecrets("ssh://git@github.com/a/b.git")).toEqual([]);
  });
});
