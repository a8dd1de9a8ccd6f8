import { describe, expect, test } from "bun:test";
import { command } from "../../src/exec/command";
import { redactArgv, run } from "../../src/exec/run";
import { CommandFailed } from "../../src/errors";

describe("exec", () => {
  test("argv is passed verbatim: no shell ever interprets it", async () => {
    const r = await run(command(["printf", "%s|", "x;rm -rf /", "$(id)", "a b"]));
    expect(r.stdout).toBe("x;rm -rf /|$(id)|a b|");
  });

  test("streams output lines as they come, redacted", async () => {
    const lines: string[] = [];
    await run(
      command(["sh", "-c", 'echo one; echo "pw=$1" >&2; echo two', "sh", "s3cr3t-value"], { redact: ["s3cr3t-value"] }),
      {
        onLine: (stream, line) => lines.push(`${stream}:${line}`),
      },
    );
    // Two pipes: order within a stream is guaranteed, across streams it is not.
    expect(lines.filter((l) => l.startsWith("stdout:"))).toEqual(["stdout:one", "stdout:two"]);
    expect(lines.filter((l) => l.startsWith("stderr:"))).toEqual(["stderr:pw=***"]);
  });

  test("non-zero exit throws CommandFailed with the redacted argv, exit code and stderr tail", async () => {
    const cmd = command(["sh", "-c", "echo boom >&2; exit 3", "sh", "--password", "hunter22"], {
      redact: ["hunter22"],
    });
    const err = await run(cmd).catch((e) => e);
    expect(err).toBeInstanceOf(CommandFailed);
    expect(err.details).toEqual({
      argv: ["sh", "-c", "echo boom >&2; exit 3", "sh", "--password", "***"],
      exitCode: 3,
      stderr: "boom",
    });
    expect(err.message).not.toContain("hunter22");
  });

  test("timeouts kill the process and say so", async () => {
    const err = await run(command(["sleep", "5"], { timeoutMs: 200 })).catch((e) => e);
    expect(err).toBeInstanceOf(CommandFailed);
    expect(err.message).toContain("timed out after 200 ms");
  });

  test("redactArgv masks registered secrets and key=value passwords", () => {
    expect(redactArgv(command(["psql", "postgresql://u:pw123456@h/db", "PASSWORD=abc123"]))).toEqual([
      "psql",
      "postgresql://u:***@h/db",
      "PASSWORD=***",
    ]);
  });
});
