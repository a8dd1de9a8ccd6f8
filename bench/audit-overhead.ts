#!/usr/bin/env bun
/**
 * What the audit hash chain and login throttling cost (issue #13): the real daemon (dist/odooops) on
 * loopback under an open-loop mix of reads, audited writes, refused tokens and logins at 200 req/s
 * (bench/mix-gen.ts), p95 latency with both on against the same binary with both off
 * (ODOOOPS_BENCH_UNPROTECTED=1, read only by `serve`). Runs alternate between the two, fresh root
 * each, and samples are pooled per side. Target: p95 ratio < 1.10.
 *
 *   bun bench/audit-overhead.ts   (BENCH_RATE=200, BENCH_DURATION=20 s, BENCH_ROUNDS=3, 3 s warm-up per run)
 *
 * Reports only; never fails on a time. Loopback only.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ADMIN_PASSWORD, benchCli, requireBinary, startDaemon } from "./lib/daemon";
import { ms, percentile, ratio, sorted } from "./lib/stats";
import { printTable, verdict } from "./lib/table";

const RATE = Math.min(Number(process.env.BENCH_RATE ?? 200) || 200, 1000);
const DURATION_SEC = Math.min(Number(process.env.BENCH_DURATION ?? 20) || 20, 60);
const ROUNDS = Math.min(Number(process.env.BENCH_ROUNDS ?? 3) || 3, 5);
const TARGET = 1.1;

type Side = "protected" | "unprotected";
interface GenResult {
  kinds: Record<string, { latencies: number[]; failures: Record<string, number> }>;
}
interface Pooled {
  all: number[];
  kinds: Map<string, number[]>;
  failures: Map<string, number>;
  auditRows: number[];
}

async function oneRun(tmp: string, side: Side, n: number): Promise<{ gen: GenResult; auditRows: number }> {
  const root = join(tmp, `${side}-${n}`);
  const daemon = await startDaemon(root, side === "unprotected" ? { ODOOOPS_BENCH_UNPROTECTED: "1" } : {});
  try {
    const gen = Bun.spawn(
      [
        process.execPath,
        join(import.meta.dir, "mix-gen.ts"),
        "--url",
        daemon.url,
        "--rate",
        String(RATE),
        "--duration",
        String(DURATION_SEC),
      ],
      {
        env: { PATH: process.env.PATH ?? "", BENCH_TOKEN: daemon.token, BENCH_PASSWORD: ADMIN_PASSWORD },
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    const [stdout, stderr, code] = await Promise.all([
      new Response(gen.stdout).text(),
      new Response(gen.stderr).text(),
      gen.exited,
    ]);
    if (code !== 0) throw new Error(`mix-gen exited ${code}: ${stderr}`);
    // The protected side must really have written and chained its rows: verify through the CLI.
    const verified = JSON.parse((await benchCli(root, 60_000).cli("audit", "verify", "--json")).stdout) as {
      ok: boolean;
      rows: number;
    };
    if (!verified.ok) throw new Error(`audit chain of the ${side} run does not verify`);
    if ((side === "protected") !== verified.rows > 0)
      throw new Error(`the ${side} run wrote ${verified.rows} audit rows`);
    return { gen: JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as GenResult, auditRows: verified.rows };
  } finally {
    await daemon.stop();
  }
}

function pool(into: Pooled, run: { gen: GenResult; auditRows: number }): void {
  for (const [kind, k] of Object.entries(run.gen.kinds)) {
    into.all.push(...k.latencies);
    into.kinds.set(kind, [...(into.kinds.get(kind) ?? []), ...k.latencies]);
    for (const [cause, count] of Object.entries(k.failures))
      into.failures.set(`${kind}: ${cause}`, (into.failures.get(`${kind}: ${cause}`) ?? 0) + count);
  }
  into.auditRows.push(run.auditRows);
}

const q = (values: number[], p: number) => percentile(sorted(values), p);

async function main(): Promise<void> {
  requireBinary();
  const tmp = mkdtempSync(join(tmpdir(), "odooops-bench-audit-"));
  const sides: Record<Side, Pooled> = {
    protected: { all: [], kinds: new Map(), failures: new Map(), auditRows: [] },
    unprotected: { all: [], kinds: new Map(), failures: new Map(), auditRows: [] },
  };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const order: Side[] = round % 2 === 0 ? ["protected", "unprotected"] : ["unprotected", "protected"];
      for (const side of order) pool(sides[side], await oneRun(tmp, side, round));
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const p = sides.protected;
  const u = sides.unprotected;
  printTable(
    `API mix at ${RATE} req/s, ${ROUNDS} × ${DURATION_SEC} s per side (alternating, fresh root each, 3 s warm-up) — latency send → body read`,
    ["side", "requests", "failures", "audit rows / run", "p50", "p95", "p99", "max"],
    [
      [
        "audit chain + login throttle",
        String(p.all.length),
        String([...p.failures.values()].reduce((a, b) => a + b, 0)),
        p.auditRows.join(", "),
        ms(q(p.all, 50)),
        ms(q(p.all, 95)),
        ms(q(p.all, 99)),
        ms(q(p.all, 100)),
      ],
      [
        "both off (baseline)",
        String(u.all.length),
        String([...u.failures.values()].reduce((a, b) => a + b, 0)),
        u.auditRows.join(", "),
        ms(q(u.all, 50)),
        ms(q(u.all, 95)),
        ms(q(u.all, 99)),
        ms(q(u.all, 100)),
      ],
    ],
  );
  printTable(
    "p95 per kind of call",
    ["call", "share", "p95 on", "p95 off", "ratio"],
    [...p.kinds.keys()].sort().map((kind) => {
      const on = p.kinds.get(kind) ?? [];
      const off = u.kinds.get(kind) ?? [];
      return [
        kind,
        `${((on.length / p.all.length) * 100).toFixed(0)} %`,
        ms(q(on, 95)),
        ms(q(off, 95)),
        ratio(q(on, 95), q(off, 95)),
      ];
    }),
  );
  const failures = [...p.failures, ...u.failures].map(([k, n]) => `${k} × ${n}`);
  if (failures.length) console.log(`\nfailures: ${failures.join("; ")}`);
  printTable(
    `Overhead (target p95 ratio < ${TARGET.toFixed(2)})`,
    ["quantile", "off (baseline)", "on", "ratio", "target"],
    [
      ["p50", ms(q(u.all, 50)), ms(q(p.all, 50)), ratio(q(p.all, 50), q(u.all, 50)), "—"],
      [
        "p95",
        ms(q(u.all, 95)),
        ms(q(p.all, 95)),
        ratio(q(p.all, 95), q(u.all, 95)),
        verdict(q(p.all, 95) / q(u.all, 95) < TARGET && p.failures.size === 0),
      ],
      ["p99", ms(q(u.all, 99)), ms(q(p.all, 99)), ratio(q(p.all, 99), q(u.all, 99)), "—"],
    ],
  );
}

await main();
