import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Conflict, Invalid, NotFound } from "../../src/errors";
import { run } from "../../src/exec/run";
import { exportTree, mirrorPath, resolveCommit, syncMirror } from "../../src/git/mirror";
import { makeTempDir, removeTempDir } from "../support/tmp";
import { makeRepo, type TestRepo } from "./repo";

const SLOW = 120_000;

describe("git mirror against a real repository", () => {
  let tmp: string;
  let reposDir: string;
  let repo: TestRepo;
  let first: string;
  let mirror: string;

  beforeAll(async () => {
    tmp = makeTempDir("odooops-git-");
    reposDir = join(tmp, "repos");
    repo = await makeRepo(join(tmp, "src"));
    first = await repo.commit({
      "my_addon/__manifest__.py": "{'name': 'My addon', 'version': '1.0'}\n",
      "my_addon/models/__init__.py": "",
      "README.md": "addons\n",
    });
  }, SLOW);

  afterAll(() => {
    removeTempDir(tmp);
  });

  test(
    "first sync clones a bare mirror named by the URL's hash",
    async () => {
      const lines: string[] = [];
      mirror = await syncMirror({ reposDir, url: repo.url, log: (l) => lines.push(l) });
      expect(mirror).toBe(mirrorPath(reposDir, repo.url));
      expect(mirror).toMatch(/\/repos\/[0-9a-f]{16}\.git$/);
      expect(readFileSync(join(mirror, "config"), "utf8")).toMatch(/mirror = true/);
      expect(existsSync(join(mirror, "HEAD"))).toBe(true);
      expect(lines.some((l) => l.startsWith("cloning file://"))).toBe(true);
      expect(await resolveCommit(mirror, { branch: "main" })).toBe(first);
      expect(readdirSync(reposDir).filter((n) => n.includes(".partial-"))).toEqual([]);
    },
    SLOW,
  );

  test(
    "a new commit is fetched into the same mirror, not re-cloned",
    async () => {
      const inode = statSync(mirror).ino;
      writeFileSync(join(mirror, "odooops-marker"), "kept");
      const second = await repo.commit({ "my_addon/__manifest__.py": "{'name': 'My addon', 'version': '1.1'}\n" });
      const lines: string[] = [];
      expect(await syncMirror({ reposDir, url: repo.url, log: (l) => lines.push(l) })).toBe(mirror);
      expect(statSync(mirror).ino).toBe(inode);
      expect(readFileSync(join(mirror, "odooops-marker"), "utf8")).toBe("kept");
      expect(lines.some((l) => l.startsWith("fetching"))).toBe(true);
      expect(lines.some((l) => l.startsWith("cloning"))).toBe(false);
      expect(await resolveCommit(mirror, { branch: "main" })).toBe(second);
      expect(await resolveCommit(mirror, { sha: first })).toBe(first);
    },
    SLOW,
  );

  test(
    "resolveCommit: short and upper-case ids, other branches, sha wins over branch",
    async () => {
      await repo.git("checkout", "--quiet", "-b", "release/17.0");
      const rel = await repo.commit({ "other/x.txt": "x" });
      await repo.git("checkout", "--quiet", "main");
      await syncMirror({ reposDir, url: repo.url });
      expect(await resolveCommit(mirror, { branch: "release/17.0" })).toBe(rel);
      expect(await resolveCommit(mirror, { branch: "refs/heads/release/17.0" })).toBe(rel);
      expect(await resolveCommit(mirror, { sha: rel.slice(0, 7) })).toBe(rel);
      expect(await resolveCommit(mirror, { sha: rel.slice(0, 12).toUpperCase() })).toBe(rel);
      expect(await resolveCommit(mirror, { sha: first, branch: "release/17.0" })).toBe(first);
    },
    SLOW,
  );

  test(
    "unknown branch or commit: NotFound naming what and where; bad input: Invalid",
    async () => {
      const branch = resolveCommit(mirror, { branch: "nope" });
      await expect(branch).rejects.toBeInstanceOf(NotFound);
      await expect(resolveCommit(mirror, { branch: "nope" })).rejects.toThrow(`branch nope not found in ${repo.url}`);
      await expect(resolveCommit(mirror, { sha: "deadbee" })).rejects.toThrow(
        `commit deadbee not found in ${repo.url}`,
      );
      await expect(resolveCommit(mirror, { sha: "0".repeat(40) })).rejects.toBeInstanceOf(NotFound);
      await expect(resolveCommit(mirror, { branch: "x;rm -rf /" })).rejects.toBeInstanceOf(Invalid);
      await expect(resolveCommit(mirror, { sha: "HEAD~1" })).rejects.toBeInstanceOf(Invalid);
      await expect(resolveCommit(mirror, {})).rejects.toBeInstanceOf(Invalid);
      await expect(resolveCommit(join(tmp, "missing.git"), { branch: "main" })).rejects.toBeInstanceOf(NotFound);
    },
    SLOW,
  );

  test(
    "a branch deleted upstream is pruned from the mirror",
    async () => {
      await repo.git("branch", "--quiet", "gone");
      await syncMirror({ reposDir, url: repo.url });
      expect(await resolveCommit(mirror, { branch: "gone" })).toMatch(/^[0-9a-f]{40}$/);
      await repo.git("branch", "--quiet", "-D", "gone");
      await syncMirror({ reposDir, url: repo.url });
      await expect(resolveCommit(mirror, { branch: "gone" })).rejects.toThrow("branch gone not found");
    },
    SLOW,
  );

  test(
    "exportTree writes the commit's files, without .git, and refuses a non-empty target",
    async () => {
      const dest = join(tmp, "export-first");
      await exportTree(mirror, first, dest);
      expect(readdirSync(dest).sort()).toEqual(["README.md", "my_addon"]);
      expect(readFileSync(join(dest, "my_addon/__manifest__.py"), "utf8")).toBe(
        "{'name': 'My addon', 'version': '1.0'}\n",
      );
      expect(existsSync(join(dest, "my_addon/models/__init__.py"))).toBe(true);
      expect(existsSync(join(dest, "other"))).toBe(false);
      expect(readdirSync(tmp).filter((n) => n.endsWith(".tar"))).toEqual([]);
      const head = await resolveCommit(mirror, { branch: "main" });
      const dest2 = join(tmp, "export-head");
      await exportTree(mirror, head.slice(0, 10), dest2);
      expect(readFileSync(join(dest2, "my_addon/__manifest__.py"), "utf8")).toContain("'1.1'");
      await expect(exportTree(mirror, head, dest)).rejects.toBeInstanceOf(Conflict);
      await expect(exportTree(mirror, "0".repeat(40), join(tmp, "export-none"))).rejects.toBeInstanceOf(NotFound);
    },
    SLOW,
  );

  test("an invalid URL is refused before git runs", async () => {
    const dir = join(tmp, "repos-invalid");
    await expect(syncMirror({ reposDir: dir, url: "ext::sh -c touch% /tmp/x" })).rejects.toBeInstanceOf(Invalid);
    expect(existsSync(dir)).toBe(false);
  });

  test(
    "an unreachable repository fails with git's message, leaves no partial clone",
    async () => {
      const dir = join(tmp, "repos-missing");
      await expect(syncMirror({ reposDir: dir, url: `file://${tmp}/does-not-exist` })).rejects.toThrow(
        /does-not-exist/,
      );
      expect(readdirSync(dir)).toEqual([]);
    },
    SLOW,
  );

  test(
    "concurrent syncs of one URL, in this process and in others, all succeed on one mirror",
    async () => {
      const fresh = join(tmp, "repos-concurrent");
      mkdirSync(fresh);
      const child = () =>
        run({
          argv: [process.execPath, join(import.meta.dir, "sync-child.ts"), fresh, repo.url],
          timeoutMs: SLOW,
        }).then((r) => r.stdout.trim());
      const results = await Promise.all([
        syncMirror({ reposDir: fresh, url: repo.url }),
        syncMirror({ reposDir: fresh, url: repo.url }),
        child(),
        child(),
        child(),
      ]);
      const expected = mirrorPath(fresh, repo.url);
      expect(results).toEqual([expected, expected, expected, expected, expected]);
      expect(readdirSync(fresh).filter((n) => !n.endsWith(".lock"))).toEqual([expected.slice(fresh.length + 1)]);
      const head = await repo.git("rev-parse", "HEAD");
      expect(await resolveCommit(expected, { branch: "main" })).toBe(head);
      // And again, now all fetching the existing mirror at the same time.
      await repo.commit({ "my_addon/data.xml": "<odoo/>" });
      const again = await Promise.all([syncMirror({ reposDir: fresh, url: repo.url }), child(), child()]);
      expect(again).toEqual([expected, expected, expected]);
      expect(await resolveCommit(expected, { branch: "main" })).toBe(await repo.git("rev-parse", "HEAD"));
    },
    SLOW,
  );
});
