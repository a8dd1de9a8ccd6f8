#!/usr/bin/env bun
/**
 * CLI cold start: `dist/odooops --version` and `dist/odooops env list --json` (against a running
 * daemon in a temp root, empty state) versus a one-line hello-world compiled with the same flags
 * in this run. Target: each ≤ 3× the hello-world median. Also prints binary sizes.
 *
 *   bun bench/cli-startup.ts        (BENCH_RUNS=30 timed runs per command, after 3 warm-ups)
 *
 * Reports only; never fails on a time, since wall-clock figures depend on the machine.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compileHello } from "./lib/compile";
import { BINARY, requireBinary, rootEnv, startDaemon } from "./lib/daemon";
import { mb, median, ms, percentile, ratio, sorted } from "./lib/stats";
import { printTable, verdict } from "./lib/table";

const RUNS = Math.min(Math.max(Number(process.env.BENCH_RUNS ?? 30) || 30, 5), 200);
const WARMUP = 3;
const TARGET_RATIO = 3;

interface Command {
  label: string;
  argv: string[];
  /** Checked once before timing, so we never time a command that fails fast. */
  check(stdout: string): boolean;
}

function runOnce(cmd: Command, env: Record<string, string>, capture: boolean): { ms: number; stdout: string } {
  const start = performance.now();
  const res = Bun.spawnSync(cmd.argv, { env, stdin: "ignore", stdout: capture ? "pipe" : "ignore", stderr: "pipe" });
  const elapsed = performance.now() - start;
  if (res.exitCode !== 0) throw new Error(`${cmd.label} exited ${res.exitCode}: ${res.stderr.toString()}`);
  return { ms: elapsed, stdout: res.stdout?.toString() ?? "" };
}

async function main(): Promise<void> {
  requireBinary();
  const tmp = mkdtempSync(join(tmpdir(), "odooops-bench-cli-"));
  const daemon = await startDaemon(join(tmp, "root")).catch((e: unknown) => {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  });
  try {
    const hello = compileHello(tmp);
    const env = rootEnv(join(tmp, "root"));
    const commands: Command[] = [
      { label: "hello world (baseline)", argv: [hello], check: (out) => out.trim() === "hello" },
      { label: "odooops --version", argv: [BINARY, "--version"], check: (out) => /\d+\.\d+\.\d+/.test(out) },
      {
        label: "odooops env list --json",
        argv: [BINARY, "env", "list", "--json"],
        check: (out) => Array.isArray(JSON.parse(out)),
      },
    ];
    for (const cmd of commands) {
      const { stdout } = runOnce(cmd, env, true);
      if (!cmd.check(stdout)) throw new Error(`${cmd.label} printed unexpected output: ${stdout.slice(0, 200)}`);
      for (let i = 0; i < WARMUP; i++) runOnce(cmd, env, false);
    }
    // Interleaved so that background noise (other tenants, CPU frequency) hits all commands alike.
    const times = commands.map(() => [] as number[]);
    for (let r = 0; r < RUNS; r++) {
      for (const [i, cmd] of commands.entries()) times[i].push(runOnce(cmd, env, false).ms);
    }

    const base = median(times[0]);
    printTable(
      `CLI cold start — ${RUNS} runs each after ${WARMUP} warm-ups, wall time of spawn→exit (target ≤ ${TARGET_RATIO}× hello world)`,
      ["command", "median", "min", "p90", "ratio vs hello", "target"],
      commands.map((cmd, i) => {
        const s = sorted(times[i]);
        const m = median(s);
        return [
          cmd.label,
          ms(m, 1),
          ms(s[0], 1),
          ms(percentile(s, 90), 1),
          ratio(m, base),
          i === 0 ? "—" : verdict(m <= TARGET_RATIO * base),
        ];
      }),
    );
    const sizes = [statSync(hello).size, statSync(BINARY).size];
    printTable(
      "Binary size",
      ["binary", "size", "ratio vs hello"],
      [
        ["hello world (baseline)", mb(sizes[0]), ratio(sizes[0], sizes[0])],
        ["dist/odooops", mb(sizes[1]), ratio(sizes[1], sizes[0])],
      ],
    );
  } finally {
    await daemon.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
