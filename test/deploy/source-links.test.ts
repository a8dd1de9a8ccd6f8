/**
 * H3: a commit's symbolic links never make the daemon (root) read a host file. Real git
 * repositories, a real mirror and the real export the deploy plan reads its modules from.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { resolvePaths } from "../../src/config/paths";
import { parseManifest } from "../../src/odoo/manifest";
import { repoModulesAt } from "../../src/deploy/source";
import { Invalid } from "../../src/errors";
import { exportTree, readFileAt, syncMirror } from "../../src/git/mirror";
import { makeRepo } from "../git/repo";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";

const SLOW = 120_000;

describe("symbolic links in a deployed commit", () => {
  let tmp: string;
  let secretDir: string;
  let secret: string;
  let paths: ReturnType<typeof resolvePaths>;

  beforeAll(() => {
    tmp = makeTempDir("odooops-links-");
    paths = resolvePaths(join(tmp, "host"));
    // A host file the daemon can read as root; the first token is what the old parser echoed.
    secretDir = join(tmp, "host-secrets");
    mkdirSync(secretDir);
    secret = `SECRET_${randomSuffix(16)}`;
    writeFileSync(join(secretDir, "secret.key"), `${secret} more secret text\n`);
  });
  afterAll(() => removeTempDir(tmp));

  /** A repo whose `addons` (module dir `x`) is built by `arrange`, committed and mirrored. */
  async function commitWith(name: string, arrange: (dir: string) => void): Promise<{ mirror: string; sha: string }> {
    const repo = await makeRepo(join(tmp, name));
    await repo.commit({ "good/__manifest__.py": "{'name': 'Good', 'version': '1.0'}\n" });
    arrange(repo.dir);
    const sha = await repo.commit({});
    const mirror = await syncMirror({ reposDir: paths.gitCacheDir, url: repo.url });
    return { mirror, sha };
  }

  async function planError(mirror: string, sha: string, key: string): Promise<Error> {
    let err: unknown;
    try {
      await repoModulesAt({ paths }, mirror, sha, "17.0", key);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Invalid);
    return err as Error;
  }

  test(
    "a __manifest__.py linked to an absolute host path: refused, the secret appears nowhere in the error",
    async () => {
      const { mirror, sha } = await commitWith("abs", (dir) => {
        mkdirSync(join(dir, "x"));
        symlinkSync(join(secretDir, "secret.key"), join(dir, "x", "__manifest__.py"));
      });
      const err = await planError(mirror, sha, `abs-${randomSuffix()}`);
      expect(err.message).not.toContain(secret);
      expect(err.message).toContain("x/__manifest__.py is a symbolic link to a path outside the repository");
      // The exported tree is gone either way.
      expect(readdirSync(paths.workDir)).toEqual([]);
    },
    SLOW,
  );

  test(
    "a relative link climbing out (and a linked module directory) is refused too",
    async () => {
      const { mirror, sha } = await commitWith("rel", (dir) => {
        mkdirSync(join(dir, "x"));
        // Enough `..` to reach / from wherever the tree is exported.
        symlinkSync(`${"../".repeat(30)}${join(secretDir, "secret.key").slice(1)}`, join(dir, "x", "__manifest__.py"));
      });
      const err = await planError(mirror, sha, `rel-${randomSuffix()}`);
      expect(err.message).not.toContain(secret);
      expect(err.message).toContain("symbolic link to a path outside the repository");

      const linkedDir = await commitWith("dirlink", (dir) => symlinkSync(secretDir, join(dir, "y")));
      const err2 = await planError(linkedDir.mirror, linkedDir.sha, `dir-${randomSuffix()}`);
      expect(err2.message).toContain("y is a symbolic link to a path outside the repository");
    },
    SLOW,
  );

  test(
    "a Dockerfile linked to a host file: the export for the image build is refused before docker reads it",
    async () => {
      const { mirror, sha } = await commitWith("dockerfile", (dir) =>
        symlinkSync(join(secretDir, "secret.key"), join(dir, "Dockerfile")),
      );
      const dest = join(tmp, `context-${randomSuffix()}`);
      await expect(exportTree(mirror, sha, dest)).rejects.toThrow(
        "Dockerfile is a symbolic link to a path outside the repository",
      );
      removeTempDir(dest);
    },
    SLOW,
  );

  test(
    "links that stay inside the repository still deploy",
    async () => {
      const { mirror, sha } = await commitWith("inside", (dir) => {
        mkdirSync(join(dir, "setup", "good"), { recursive: true });
        symlinkSync("../../good", join(dir, "setup", "good", "good"));
      });
      const modules = await repoModulesAt({ paths }, mirror, sha, "17.0", `in-${randomSuffix()}`);
      expect(modules.map((m) => m.name)).toEqual(["good"]);
    },
    SLOW,
  );

  test(
    "a linked .odooops/policies.yaml is refused, not read as the link's text",
    async () => {
      const { mirror, sha } = await commitWith("policy", (dir) => {
        mkdirSync(join(dir, ".odooops"));
        symlinkSync(join(secretDir, "secret.key"), join(dir, ".odooops", "policies.yaml"));
      });
      await expect(readFileAt(mirror, sha, ".odooops/policies.yaml")).rejects.toThrow("is a symbolic link");
    },
    SLOW,
  );

  test("parse errors name the file, line, column and kind of error, never the text", () => {
    for (const text of [
      `${secret} = 1`,
      `{'a': ${secret}}`,
      `{'a': 1${secret}}`,
      `{'a': '\\U${"f".repeat(8)}'}`,
      `{'a': ~${secret}}`,
    ]) {
      let err: unknown;
      try {
        parseManifest(text, "m/__manifest__.py");
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(Invalid);
      expect((err as Error).message).toMatch(/^m\/__manifest__\.py:1:\d+: /);
      expect((err as Error).message).not.toContain(secret);
      expect((err as Error).message).not.toContain("ffffffff");
    }
  });
});
