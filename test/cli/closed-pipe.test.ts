/**
 * `odooops … | head -1`: the reader is gone before the command writes. The process must end
 * quietly with 0, not with an EPIPE stack trace and 1.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
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

/** `head -1` on a long output: one line read, then the reader is gone while output is still queued. */
async function longOutputIntoHead(main: string): Promise<{ code: number; stderr: string; first: string }> {
  const dir = makeTempDir("odooops-pipe-");
  dirs.push(dir);
  const script = `"$BUN" "$MAIN" 2> err | head -1 > first; echo "\${PIPESTATUS[0]}" > rc`;
  await run({ argv: ["bash", "-c", script], cwd: dir, env: { BUN: process.execPath, MAIN: main } });
  const read = (f: string) => readFileSync(join(dir, f), "utf8");
  return { code: Number(read("rc").trim()), stderr: read("err"), first: read("first") };
}

describe("output into a closed pipe", () => {
  test("a long output (beyond the pipe's buffer) cut by head -1 exits 0 with nothing on stderr; the daemon's io keeps failing", async () => {
    const dir = makeTempDir("odooops-pipe-");
    dirs.push(dir);
    // Far more than a pipe holds, written through the CLI's io as a command's table would be.
    const script = (quiet: boolean) => {
      const file = join(dir, `long-${quiet}.ts`);
      writeFileSync(
        file,
        `import { processIo } from ${JSON.stringify(join(import.meta.dir, "../../src/cli/io"))};\nconst io = processIo({ json: false, quiet: false }, { quietOnClosedPipe: ${quiet} });\nfor (let i = 0; i < 20000; i++) io.stdout(\`line \${i} ${"x".repeat(80)}\\n\`);\n`,
      );
      return file;
    };
    expect(await longOutputIntoHead(script(true))).toEqual({
      code: 0,
      stderr: "",
      first: `line 0 ${"x".repeat(80)}\n`,
    });
    const daemon = await longOutputIntoHead(script(false));
    expect(daemon.code).toBe(1);
    expect(daemon.stderr).toContain("EPIPE");
  });

  test("env --help into a closed pipe exits 0 with nothing on stderr", async () => {
    expect(await intoClosedPipe(["env", "--help"])).toEqual({ code: 0, stderr: "" });
  });

  test("--version into a closed pipe exits 0 with nothing on stderr", async () => {
    expect(await intoClosedPipe(["--version"])).toEqual({ code: 0, stderr: "" });
  });
});
