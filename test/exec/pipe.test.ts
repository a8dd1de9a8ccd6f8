import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { CommandFailed } from "../../src/errors";
import { command } from "../../src/exec/command";
import { mkfifo, runPipe } from "../../src/exec/pipe";
import { makeTempDir, removeTempDir } from "../support/tmp";

const tmp = makeTempDir("odooops-pipe-test-");
const prev = process.env.TMPDIR;
process.env.TMPDIR = tmp;

afterAll(() => {
  if (prev === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = prev;
  removeTempDir(tmp);
});

describe("runPipe", () => {
  test("mkfifo: a pipe only its owner can open, the path never read as an option", () => {
    expect(mkfifo("/tmp/x/-p").argv).toEqual(["mkfifo", "-m", "600", "--", "/tmp/x/-p"]);
  });

  test("the producer's stdout is the consumer's stdin: a kernel pipe (FIFO), not one of ours", async () => {
    const r = await runPipe(
      command(["sh", "-c", 'readlink "/proc/$$/fd/1"; head -c 50000000 /dev/zero']),
      command(["sh", "-c", 'readlink "/proc/$$/fd/0"; exec wc -c']),
    );
    const [fd0, count] = r.stdout.trim().split("\n");
    // Both ends are the same FIFO (unlinked); Bun's own pipes would be sockets.
    expect(fd0).toMatch(/\/pipe \(deleted\)$/);
    // The producer's readlink line went down the pipe too: 50 MB + that line.
    expect(Number(count)).toBeGreaterThan(50_000_000);
    expect(readdirSync(tmp)).toEqual([]);
  });

  test("a producer that fails: its error (redacted), the consumer killed, nothing left behind", async () => {
    const err = await runPipe(
      command(["sh", "-c", "echo secret-pw broke >&2; exit 4"], { redact: ["secret-pw"] }),
      command(["sleep", "30"]),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandFailed);
    expect((err as CommandFailed).details).toEqual({
      argv: ["sh", "-c", "echo *** broke >&2; exit 4"],
      exitCode: 4,
      stderr: "*** broke",
    });
    expect(readdirSync(tmp)).toEqual([]);
  });

  test("a consumer that fails first is the error, not the producer it cut off", async () => {
    const err = await runPipe(
      command(["sh", "-c", "exec cat /dev/zero"]),
      command(["sh", "-c", "head -c 10 >/dev/null; echo no space >&2; exit 3"]),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandFailed);
    expect((err as CommandFailed).details).toMatchObject({ exitCode: 3, stderr: "no space" });
  });

  test("a timeout kills that side and says so", async () => {
    const err = await runPipe(command(["sleep", "20"], { timeoutMs: 200 }), command(["cat"])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandFailed);
    expect((err as CommandFailed).message).toContain("timed out after 200 ms");
  });

  test("the executor's environment rules hold for both sides (no inherited secrets)", async () => {
    process.env.ODOOOPS_PIPE_TEST_SECRET = "leak";
    try {
      const r = await runPipe(
        command(["sh", "-c", 'echo "a=${ODOOOPS_PIPE_TEST_SECRET:-none} b=$B"'], { env: { B: "given" } }),
        command(["sh", "-c", 'cat; echo "c=${ODOOOPS_PIPE_TEST_SECRET:-none}"']),
      );
      expect(r.stdout).toBe("a=none b=given\nc=none\n");
    } finally {
      delete process.env.ODOOOPS_PIPE_TEST_SECRET;
    }
  });
});
