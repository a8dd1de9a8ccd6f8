/** The deploy picker's lists: parsing (pure), and a real mirror of a real repository. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Invalid } from "../../src/errors";
import { syncMirror } from "../../src/git/mirror";
import { parseBranches, parseLog, recentRefs } from "../../src/git/refs";
import { makeTempDir, removeTempDir } from "../support/tmp";
import { makeRepo, type TestRepo } from "./repo";

describe("parsing", () => {
  test("fields split on NUL; a subject with tabs and quotes stays whole; short lines are dropped", () => {
    expect(parseBranches('main\0abc\x002026-01-01T00:00:00Z\0Fix\t"it"\nbroken\0line\n\n')).toEqual([
      { name: "main", sha: "abc", date: "2026-01-01T00:00:00Z", subject: 'Fix\t"it"' },
    ]);
    expect(parseLog("abc\x002026-01-01T00:00:00Z\0Ann\0\n")).toEqual([
      { sha: "abc", date: "2026-01-01T00:00:00Z", author: "Ann", subject: "" },
    ]);
  });
});

describe("recentRefs on a real mirror", () => {
  let dir = "";
  let repo: TestRepo;
  let mirror = "";
  const shas: string[] = [];
  beforeAll(async () => {
    dir = makeTempDir("odooops-refs-");
    repo = await makeRepo(`${dir}/repo`);
    for (let i = 1; i <= 4; i++) shas.push(await repo.commit({ "f.txt": `${i}\n` }, `change ${i}`));
    await repo.git("branch", "release/1", shas[1] as string);
    mirror = await syncMirror({ reposDir: `${dir}/mirrors`, url: repo.url });
  });
  afterAll(() => removeTempDir(dir));

  test("the branch's newest commits first, bounded; every branch with its head", async () => {
    const got = await recentRefs(mirror, "main", 3);
    expect(got.commits.map((c) => c.sha)).toEqual([shas[3], shas[2], shas[1]] as string[]);
    expect(got.commits[0]?.subject).toBe("change 4");
    expect(got.commits[0]?.author).toBe("odooops test");
    expect(got.branches.map((b) => [b.name, b.sha]).sort()).toEqual(
      [
        ["main", shas[3]],
        ["release/1", shas[1]],
      ].sort() as [string, string][],
    );
  });

  test("a branch the mirror lacks has no commits; an invalid name is refused before git runs", async () => {
    expect((await recentRefs(mirror, "nope", 5)).commits).toEqual([]);
    await expect(recentRefs(mirror, "--upload-pack=x", 5)).rejects.toThrow(Invalid);
    await expect(recentRefs(mirror, "a..b", 5)).rejects.toThrow(Invalid);
  });
});
