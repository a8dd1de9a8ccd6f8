import { describe, expect, test } from "bun:test";
import { Invalid } from "../../src/errors";
import { validateBranch, validateRepoUrl, validateSha } from "../../src/git/validate";

describe("validateRepoUrl", () => {
  test.each([
    ["file:///srv/git/addons.git"],
    ["file:///tmp/odooops-repo-x1/src"],
    ["ssh://git@github.com/acme/addons.git"],
    ["ssh://git@git.example.com:2222/acme/addons.git"],
    ["ssh://deploy@[2001:db8::1]:22/srv/addons.git"],
    ["ssh://host.example.com/~deploy/addons.git"],
    ["https://github.com/acme/addons.git"],
    ["https://x-access-token:ghs_abc123@github.com/acme/addons.git"],
    ["https://gitlab.example.com:8443/group/sub/addons"],
    ["git@github.com:acme/addons.git"],
    ["deploy@10.0.0.5:/srv/git/addons.git"],
  ])("accepts %p unchanged", (url) => {
    expect(validateRepoUrl(url)).toBe(url);
  });

  test.each([
    ["", /empty/],
    ["ext::sh -c touch% /tmp/pwned", /spaces|remote helpers/],
    ["ext::sh", /remote helpers/],
    ["fd::17", /remote helpers/],
    ["-uhttps://github.com/a/b", /start with "-"/],
    ["ssh://-oProxyCommand=touch%20x/a", /host/],
    ["ssh://git@-oProxyCommand=x/a", /host/],
    ["-oProxyCommand=x@host:path", /start with "-"/],
    ["git@host:-upload-pack=touch", /start with "-"/],
    ["https://github.com/a/b;rm -rf /", /spaces/],
    ["https://github.com/a/b;rm", /characters outside/],
    ["https://github.com/a/$(id)", /characters outside/],
    ["https://github.com/a/`id`", /characters outside/],
    ["https://github.com/a/../../etc", /"\.\."/],
    ["file:///srv/../etc/git", /"\.\."/],
    ["file://host/srv/repo", /no host/],
    ["file:///", /empty/],
    ["/srv/git/addons.git", /file:\/\/\/srv\/git\/addons\.git/],
    ["../x", /not a URL/],
    ["http://github.com/a/b", /unauthenticated/],
    ["git://github.com/a/b", /unauthenticated/],
    ["ftp://example.com/a", /unsupported scheme/],
    ["https://github.com", /host and a path/],
    ["https://github.com/a/b?x=1", /characters outside|query/],
    ["https://github.com:99999/a", /out of range/],
    ["ssh://user:pw@host/a", /no password/],
    ["https://githu\u202eb.com/a/b", /non-ASCII/],
    ["https://github.com/a/b\u200b", /non-ASCII/],
    ["https://github.com/a/b\n", /control/],
    ["https://ｇithub.com/a/b", /non-ASCII/],
    ["https://github.com/" + "a".repeat(3000), /longer than 2048/],
    ["https://bad_host!.com/a", /host/],
  ])("rejects %p", (url, why) => {
    let err: unknown;
    try {
      validateRepoUrl(url);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Invalid);
    expect((err as Error).message).toMatch(/repository URL/);
    expect((err as Error).message).toMatch(why);
  });
});

describe("validateBranch", () => {
  test.each([
    ["main", "main"],
    ["17.0", "17.0"],
    ["release/17.0", "release/17.0"],
    ["feature/crm-reports_v2", "feature/crm-reports_v2"],
    ["fix+1", "fix+1"],
    ["refs/heads/main", "main"],
  ])("accepts %p as %p", (name, out) => {
    expect(validateBranch(name)).toBe(out);
  });

  test.each([
    ["", /empty/],
    ["x;rm -rf /", /ASCII letters/],
    ["$(reboot)", /ASCII letters/],
    ["a`id`", /ASCII letters/],
    ["a|b", /ASCII letters/],
    ["a&b", /ASCII letters/],
    ["../x", /"\.\."|start with "\."/],
    ["-x", /start with "-"/],
    ["--upload-pack=x", /ASCII letters|start with "-"/],
    ["a..b", /"\.\."/],
    ["a/", /empty path component/],
    ["/a", /empty path component/],
    ["a//b", /empty path component/],
    ["a.lock", /\.lock/],
    ["a/b.lock/c", /\.lock/],
    ["a/.hidden", /start with "\."/],
    ["a.", /end with "\."/],
    ["HEAD", /HEAD/],
    ["a@{1}", /ASCII letters/],
    ["a~1", /ASCII letters/],
    ["a^", /ASCII letters/],
    ["a:b", /ASCII letters/],
    ["a*", /ASCII letters/],
    ["a\\b", /ASCII letters/],
    ["a b", /ASCII letters/],
    ["main\u202egnp.exe", /ASCII letters/],
    ["ma\u200bin", /ASCII letters/],
    ["brünch", /ASCII letters/],
    ["a\tb", /ASCII letters/],
    ["a".repeat(256), /longer than 255/],
  ])("rejects %p", (name, why) => {
    let err: unknown;
    try {
      validateBranch(name);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Invalid);
    expect((err as Error).message).toMatch(/invalid branch/);
    expect((err as Error).message).toMatch(why);
  });

  test("the longest allowed branch passes", () => {
    expect(validateBranch("a".repeat(255))).toHaveLength(255);
  });
});

describe("validateSha", () => {
  test("abbreviated and full ids, lowercased", () => {
    expect(validateSha("ABCDEF1")).toBe("abcdef1");
    expect(validateSha("0123456789abcdef0123456789ABCDEF01234567")).toBe("0123456789abcdef0123456789abcdef01234567");
  });

  test.each([
    ["abc123"],
    ["g123456"],
    ["0123456789abcdef0123456789abcdef012345678"],
    ["-1234567"],
    ["1234567 "],
    ["HEAD"],
    [""],
  ])("rejects %p", (sha) => {
    expect(() => validateSha(sha)).toThrow(Invalid);
    expect(() => validateSha(sha)).toThrow(/invalid commit/);
  });
});
