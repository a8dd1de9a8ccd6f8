/**
 * `odooops … | head -1`: the reader is gone before the command writes. The process must end
 * quietly with 0, not with an EPIPE stack trace and 1.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../../src/exec/run";
import { makeTempDir, removeTempDir } from "../support/tmp";

const MAIN = join(import.meta.dir, "../../src/main.ts");
const dirs: string[] = [];
afterAll(() => dirs.forEach(removeTempDir));

/**
 * Deterministic closed pipe: the reader closes its end of the pipe first, then releases the
 * writer through a fifo; only then does the CLI start and write into a pipe nobody reads.
 */
async function intoClosedPipe(argv: string[]): Promise<{ code: number; stderr: string }> {
  const dir = makeTempDir("odooops-pipe-");
  dirs.push(dir);
  const script = `mkfifo go
{ read -r _ < go; exec "$BUN" "$MAIN" "$@" 2> err; } | { exec 0<&-; echo > go; }
echo "\${PIPESTATUS[0]}" > rc`;
  await run({ argv: ["bash", "-c", script, "pipe", ...argv], cwd: dir, env: { BUN: process.execPath, MAIN } });
  return { code: Number(readFileSync(join(dir, "rc"), "utf8").trim()), stderr: readFileSync(join(dir, "err"), "utf8") };
}

describe("output into a closed pipe", () => {
  test("env --help into a closed pipe exits 0 with nothing on stderr", async () => {
    expect(await intoClosedPipe(["env", "--help"])).toEqual({ code: 0, stderr: "" });
  });

  test("--version into a closed pipe exits 0 with nothing on stderr", async () => {
    expect(await intoClosedPipe(["--version"])).toEqual({ code: 0, stderr: "" });
  });
});
