/** Test harness: a real git repository in a temp dir, committed to through argv, served as file://. */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { run } from "../../src/exec/run";

export interface TestRepo {
  dir: string;
  url: string;
  /** Writes (string) or deletes (null) files, commits everything on the current branch; returns the commit id. */
  commit(files: Record<string, string | null>, message?: string): Promise<string>;
  git(...args: string[]): Promise<string>;
}

export async function makeRepo(dir: string, branch = "main"): Promise<TestRepo> {
  const git = async (...args: string[]) =>
    (
      await run({
        argv: [
          "git",
          "-C",
          dir,
          "-c",
          "user.name=odooops test",
          "-c",
          "user.email=test@odooops.invalid",
          "-c",
          "commit.gpgsign=false",
          ...args,
        ],
        env: { GIT_CONFIG_NOSYSTEM: "1" },
      })
    ).stdout.trim();
  mkdirSync(dir, { recursive: true });
  await git("init", "--quiet", "--initial-branch", branch);
  let n = 0;
  return {
    dir,
    url: `file://${dir}`,
    git,
    async commit(files, message) {
      for (const [path, content] of Object.entries(files)) {
        const full = join(dir, path);
        if (content === null) rmSync(full, { recursive: true, force: true });
        else {
          mkdirSync(dirname(full), { recursive: true });
          writeFileSync(full, content);
        }
      }
      await git("add", "--all");
      await git("commit", "--quiet", "--allow-empty", "-m", message ?? `commit ${++n}`);
      return git("rev-parse", "HEAD");
    },
  };
}
