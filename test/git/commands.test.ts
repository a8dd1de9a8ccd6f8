import { describe, expect, test } from "bun:test";
import {
  displayUrl,
  GIT_ENV,
  gitCommands,
  gitRemote,
  joinUrlPassword,
  splitUrlPassword,
  urlSecrets,
  withFileLock,
} from "../../src/git/commands";
import { Invalid } from "../../src/errors";

const KNOWN_HOSTS = "/var/lib/odooops/git/known_hosts";
const SSH = `ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile='${KNOWN_HOSTS}' -o ConnectTimeout=30`;

describe("git command builders", () => {
  test("clone and fetch: non-interactive, argv only, the password in a header from the environment", () => {
    const url = "https://x-access-token:ghs_tok%2Fen@github.com/acme/addons.git";
    const remote = gitRemote(url, KNOWN_HOSTS);
    const clone = gitCommands.cloneMirror(remote, "/var/lib/odooops/git/ab.git.partial-1-x");
    // The mirror's config keeps the URL git was given: no password, no user.
    expect(clone.argv).toEqual([
      "git",
      "clone",
      "--mirror",
      "--",
      "https://github.com/acme/addons.git",
      "/var/lib/odooops/git/ab.git.partial-1-x",
    ]);
    const token = Buffer.from("x-access-token:ghs_tok/en").toString("base64");
    expect(clone.redact).toEqual(["ghs_tok/en", token]);
    expect(clone.env).toEqual({
      GIT_TERMINAL_PROMPT: "0",
      GIT_ALLOW_PROTOCOL: "file:ssh:https",
      GIT_SSH_COMMAND: SSH,
      GIT_CONFIG_COUNT: "1",
      GIT_CONFIG_KEY_0: "http.extraHeader",
      GIT_CONFIG_VALUE_0: `Authorization: Basic ${token}`,
    });
    expect(clone.argv.join(" ")).not.toContain("ghs_tok");
    const fetch = gitCommands.fetch("/r/ab.git", gitRemote("git@github.com:acme/addons.git", KNOWN_HOSTS));
    expect(fetch.argv).toEqual(["git", "--git-dir", "/r/ab.git", "fetch", "--prune", "origin"]);
    expect(fetch.redact).toEqual([]);
    expect(fetch.env).toEqual({ ...GIT_ENV, GIT_SSH_COMMAND: SSH });
    // The path goes into a string sh parses: anything but a plain path is refused.
    expect(() =>
      gitCommands.fetch("/r/ab.git", gitRemote("git@github.com:a/b.git", "/tmp/x' -oProxyCommand='id")),
    ).toThrow(Invalid);
    expect(() => gitCommands.fetch("/r/ab.git", gitRemote("git@github.com:a/b.git", "relative/known_hosts"))).toThrow(
      Invalid,
    );
  });

  test("rev-parse, remote url, archive, untar", () => {
    expect(gitCommands.revParse("/r/ab.git", "refs/heads/main").argv).toEqual([
      "git",
      "--git-dir",
      "/r/ab.git",
      "rev-parse",
      "--verify",
      "--quiet",
      "refs/heads/main^{commit}",
    ]);
    expect(gitCommands.remoteUrl("/r/ab.git").argv).toEqual([
      "git",
      "--git-dir",
      "/r/ab.git",
      "config",
      "--get",
      "remote.origin.url",
    ]);
    expect(gitCommands.archive("/r/ab.git", "0123456789abcdef0123456789abcdef01234567", "/w/x.tar").argv).toEqual([
      "git",
      "--git-dir",
      "/r/ab.git",
      "archive",
      "--format=tar",
      "--output=/w/x.tar",
      "0123456789abcdef0123456789abcdef01234567",
    ]);
    expect(gitCommands.untar("/w/x.tar", "/w/ctx").argv).toEqual([
      "tar",
      "--extract",
      "--file",
      "/w/x.tar",
      "--directory",
      "/w/ctx",
      "--no-same-owner",
    ]);
  });

  test("branches and log: NUL-separated fields, one commit per line, the branch under refs/heads", () => {
    expect(gitCommands.branches("/r/ab.git", 30).argv).toEqual([
      "git",
      "--git-dir",
      "/r/ab.git",
      "for-each-ref",
      "--sort=-committerdate",
      "--count=30",
      "--format=%(refname:lstrip=2)%00%(objectname)%00%(committerdate:iso-strict)%00%(subject)",
      "refs/heads/",
    ]);
    expect(gitCommands.log("/r/ab.git", "feature/x", 5).argv).toEqual([
      "git",
      "--git-dir",
      "/r/ab.git",
      "log",
      "--max-count=5",
      "--format=%H%x00%cI%x00%an%x00%s",
      "refs/heads/feature/x",
      "--",
    ]);
  });

  test("withFileLock wraps in flock and extends the timeout by the wait", () => {
    const c = withFileLock(
      "/r/ab.git.lock",
      gitCommands.fetch("/r/ab.git", gitRemote("file:///srv/a", KNOWN_HOSTS)),
      60,
    );
    expect(c.argv).toEqual([
      "flock",
      "--exclusive",
      "--wait",
      "60",
      "/r/ab.git.lock",
      "git",
      "--git-dir",
      "/r/ab.git",
      "fetch",
      "--prune",
      "origin",
    ]);
    expect(c.timeoutMs).toBe(30 * 60_000 + 60_000);
    expect(c.env).toEqual({ ...GIT_ENV, GIT_SSH_COMMAND: SSH });
  });

  test("https passwords never reach messages", () => {
    expect(displayUrl("https://bot:s3cret@github.com/a/b.git")).toBe("https://bot:***@github.com/a/b.git");
    expect(displayUrl("https://github.com/a/b.git")).toBe("https://github.com/a/b.git");
    expect(displayUrl("git@github.com:a/b.git")).toBe("git@github.com:a/b.git");
    expect(urlSecrets("https://bot@github.com/a/b.git")).toEqual([]);
    expect(urlSecrets("ssh://git@github.com/a/b.git")).toEqual([]);
    expect(displayUrl("https://bot:p@ss@github.com/a/b.git")).toBe("https://bot:***@github.com/a/b.git");
    expect(displayUrl("ssh://git:pw@github.com/a/b.git")).toBe("ssh://git:***@github.com/a/b.git");
    expect(splitUrlPassword("https://bot:s3%2Fcret@github.com/a/b.git")).toEqual({
      url: "https://bot@github.com/a/b.git",
      password: "s3%2Fcret",
    });
    expect(splitUrlPassword("https://github.com/a/b.git")).toEqual({
      url: "https://github.com/a/b.git",
      password: null,
    });
    expect(joinUrlPassword("https://bot@github.com/a/b.git", "s3%2Fcret")).toBe(
      "https://bot:s3%2Fcret@github.com/a/b.git",
    );
    expect(gitRemote("https://github.com/a/b.git", KNOWN_HOSTS)).toEqual({
      url: "https://github.com/a/b.git",
      knownHostsFile: KNOWN_HOSTS,
    });
  });
});
