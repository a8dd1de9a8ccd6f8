#!/usr/bin/env bun
/**
 * A clone WITH anonymization (issue #14) of a generated Odoo-shaped database through the compiled
 * daemon, against the naive way in the same run, same machine, same data:
 *   ours    `db clone bench --to copy --anonymize --yes --wait`: the ruled tables' rows
 *           transformed while streamed (never a template copy: it would put the source's pages on
 *           the copy's disk), placeholder filestore, PII check of the database and filestore,
 *           neutralize, swap, health
 *   naive   `pg_dump -Fc -Z0` to a file, `pg_restore -j 2` into a new database, the same
 *           anonymizing UPDATEs (the same rules, run by the same code), `VACUUM FULL` (so no
 *           source value stays in dead tuples), and `cp -a` of the filestore
 * at two sizes (BENCH_ANON_SMALL_MB, default 100; BENCH_ANON_MB, default 200 — the issue's
 * 2 GiB is `BENCH_ANON_MB=2048`), or at every size of BENCH_ANON_SIZES (MiB, ascending, e.g.
 * `100,300,2048`: one run, one daemon, the naive way at the last), for the daemon's peak RSS
 * (flat as the database grows) and
 * the PII check's time as a share of the clone (from the job log's "PII check passed" line).
 * Target: our copy step (copy + anonymize, what the naive way does) ≥ 1.5× faster than naive, the
 * whole job printed beside it; scan ≤ 15 % of the clone. Reports only: a missed
 * target prints MISSED and the exit code stays 0. Needs `bun run build`, dockerd, the stand-in
 * image and root, like bench/db-ops.ts (whose host it reuses).
 */
import { join } from "node:path";
import { loadAnonymizeRules, anonymizeDatabase } from "../src/db/backup";
import { run } from "../src/exec/run";
import { pgConnect } from "../src/host/postgres";
import { createRole } from "../src/host/postgres/ops";
import type { Logger } from "../src/log";
import { startDbHost, STEP_TIMEOUT_MS, type DbHost, type TimedJob } from "./lib/db-host";
import { generateOdooData } from "./lib/odoo-data";
import { dropDb, pgDumpTo, restoreInto } from "./lib/pg-baseline";
import { peakBetween, sampleRss, type Sampled } from "./lib/rss-sampler";
import { mb } from "./lib/stats";
import { printTable, verdict } from "./lib/table";

const num = (v: string | undefined, dflt: number, min: number, max: number) => {
  const n = Number(v ?? dflt);
  return Number.isFinite(n) ? Math.min(Math.max(n, min), max) : dflt;
};
const FULL_MB = num(process.env.BENCH_ANON_MB, 200, 30, 100_000);
const SMALL_MB = num(process.env.BENCH_ANON_SMALL_MB, 100, 20, FULL_MB);
/** The database grows from one size to the next: they must ascend. */
const SIZES = process.env.BENCH_ANON_SIZES
  ? process.env.BENCH_ANON_SIZES.split(",").map((v) => num(v, 100, 20, 100_000))
  : [SMALL_MB, FULL_MB];
if (SIZES.some((v, i) => i > 0 && v <= (SIZES[i - 1] as number))) {
  throw new Error(`BENCH_ANON_SIZES must ascend: ${SIZES.join(",")}`);
}
const TARGET_RATIO = 1.5;
const TARGET_SCAN_SHARE = 0.15;
const MiB = 1024 * 1024;

const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const err = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const quiet: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  tag: () => quiet,
};

/** `"key": value` (number) from the JSON fields of the first job-log line containing `needle`. */
function logField(log: string, needle: string, key: string): number | null {
  const line = log.split("\n").find((l) => l.includes(needle));
  const m = line ? new RegExp(`"?${key}"?[:=]\\s*([0-9.]+)`).exec(line) : null;
  return m ? Number(m[1]) : null;
}

/** When the first job-log line containing `needle` was written (ms since the epoch), or null. */
function logTime(log: string, needle: string): number | null {
  const line = log.split("\n").find((l) => l.includes(needle));
  const at = line ? Date.parse(line.split(" ")[0] ?? "") : Number.NaN;
  return Number.isNaN(at) ? null : at;
}

/**
 * The daemon's peak in each phase of the job: the copy step, the sanitize step cut at its log
 * lines (reading the needles, the PII check, the rest), and every later step together.
 */
function phasePeaks(run: Ours): (number | null)[] {
  const { trace, value } = run.sampled;
  const step = (name: string) => value.job.steps.find((st) => st.name === name);
  const at = (iso: string | null | undefined) => (iso ? Date.parse(iso) : null);
  const copy = step("copy");
  const sanitize = step("sanitize");
  const needlesRead = logTime(value.log, "PII needles read");
  const checked = logTime(value.log, "PII check passed");
  const between = (from: number | null, to: number | null) =>
    from === null || to === null ? null : peakBetween(trace, from, to);
  return [
    between(at(copy?.startedAt), at(copy?.finishedAt)),
    between(at(sanitize?.startedAt), needlesRead),
    between(needlesRead, checked),
    between(checked, at(sanitize?.finishedAt)),
    between(at(sanitize?.finishedAt), Number.MAX_SAFE_INTEGER),
  ];
}

async function grow(h: DbHost, targetMb: number): Promise<number> {
  err(`generating: database → ${targetMb} MiB`);
  const r = await generateOdooData({
    pg: h.pg,
    db: h.source.dbName,
    owner: h.source.dbUser,
    targetBytes: targetMb * MiB,
    filestoreDir: join(h.source.dataDir, "filestore", h.source.dbName),
    filestoreBytes: Math.round(targetMb * MiB * 0.05),
    filestoreOwner: { uid: 101, gid: 101 },
    log: err,
  });
  return r.dbBytes;
}

interface Ours {
  sampled: Sampled<TimedJob>;
  scanSeconds: number | null;
  /** Reading the source's needles (before the scan, in the same step). */
  needleSeconds: number | null;
  scanned: string;
}

async function ours(h: DbHost): Promise<Ours> {
  const sampled = await sampleRss(h.daemonPid(), () =>
    h.timedJob(["db", "clone", h.source.slug, "--to", h.copy.slug, "--anonymize", "--yes", "--wait"]),
  );
  const log = sampled.value.log;
  const line = log.split("\n").find((l) => l.includes("PII check passed")) ?? "(no PII check line)";
  return {
    sampled,
    scanSeconds: logField(log, "PII check passed", "seconds"),
    needleSeconds: logField(log, "PII needles read", "seconds"),
    scanned: line.slice(line.indexOf("PII check passed")),
  };
}

/** The naive way, step by step; ms of each. */
async function naive(
  h: DbHost,
): Promise<Record<"dump" | "restore" | "anonymize" | "vacuum" | "filestore" | "total", number>> {
  const file = join(h.tmp, "naive.dump");
  const db = "naive_anon_copy";
  const role = { user: "naive_anon_owner", password: `pw-${crypto.randomUUID()}` };
  const admin = pgConnect(h.pg);
  try {
    await createRole(admin, role.user, role.password);
  } finally {
    await admin.close();
  }
  const t0 = performance.now();
  const dump = await pgDumpTo(h.pg, h.source.dbName, file, ["-Z0"]);
  const restore = await restoreInto(h.pg, file, db, role.user, 2);
  let t = performance.now();
  await anonymizeDatabase(
    { host: h.pg.host, port: h.pg.port, user: role.user, password: role.password, database: db },
    loadAnonymizeRules(),
    quiet,
    "naive-dev-password",
  );
  const anonymize = performance.now() - t;
  t = performance.now();
  const sql = pgConnect({ ...h.pg, database: db });
  try {
    await sql.unsafe("VACUUM FULL");
  } finally {
    await sql.close();
  }
  const vacuum = performance.now() - t;
  t = performance.now();
  const target = join(h.tmp, "naive-filestore");
  await run({
    argv: ["cp", "-a", join(h.source.dataDir, "filestore", h.source.dbName), target],
    timeoutMs: STEP_TIMEOUT_MS,
  });
  const filestore = performance.now() - t;
  const total = performance.now() - t0;
  await dropDb(h.pg, db);
  await run({ argv: ["rm", "-rf", target, file] });
  return { dump, restore, anonymize, vacuum, filestore, total };
}

async function main(): Promise<void> {
  const h = await startDbHost();
  try {
    const sizes: { mb: number; dbBytes: number; run: Ours }[] = [];
    for (const size of SIZES) {
      const dbBytes = await grow(h, size);
      err(`ours at ${mb(dbBytes)}`);
      sizes.push({ mb: size, dbBytes, run: await ours(h) });
    }
    err("naive at the full size");
    const n = await naive(h);
    const full = sizes[sizes.length - 1]!;
    const oursMs = full.run.sampled.value.totalMs;
    const ratio = n.total / oursMs;
    // Like for like: the naive way only copies and anonymizes. Our copy step does both (rows
    // transformed while streamed, placeholder filestore); the check, neutralization, swap and
    // Odoo's restart + health are work the naive way skips. The issue's target is read on this.
    const copyMs = full.run.sampled.value.job.steps.find((st) => st.name === "copy")?.durationMs ?? null;
    const copyRatio = copyMs === null ? null : n.total / copyMs;
    // The copy step and the sanitize step (needles, PII check, SQL neutralization, state check):
    // what the naive way does plus the proof it does not, without Odoo's own steps.
    const sanitizeMs = full.run.sampled.value.job.steps.find((st) => st.name === "sanitize")?.durationMs ?? null;
    const withCheckMs = copyMs === null || sanitizeMs === null ? null : copyMs + sanitizeMs;
    const share = full.run.scanSeconds === null ? null : (full.run.scanSeconds * 1000) / oursMs;

    console.log(
      `\nanonymized clone · ${new Date().toISOString().slice(0, 16)}Z · load ${(await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ")}`,
    );
    printTable(
      `Clone with anonymization at ${mb(full.dbBytes)} (target: our copy step ≥ ${TARGET_RATIO}× faster than naive)`,
      ["", "time", "vs naive"],
      [
        ["ours: db clone --anonymize, whole job", sec(oursMs), `${ratio.toFixed(2)}× faster`],
        [
          "ours: its copy step (copy + anonymize)",
          copyMs === null ? "?" : sec(copyMs),
          copyRatio === null ? "?" : `${copyRatio.toFixed(2)}× faster ${verdict(copyRatio >= TARGET_RATIO)}`,
        ],
        [
          "ours: copy + sanitize steps (+ needles, check)",
          withCheckMs === null ? "?" : sec(withCheckMs),
          withCheckMs === null ? "?" : `${(n.total / withCheckMs).toFixed(2)}× faster`,
        ],
        ["naive: pg_dump -Fc -Z0 → file", sec(n.dump), ""],
        ["naive: createdb + pg_restore -j 2", sec(n.restore), ""],
        ["naive: the same anonymizing UPDATEs", sec(n.anonymize), ""],
        ["naive: VACUUM FULL", sec(n.vacuum), ""],
        ["naive: cp -a of the filestore", sec(n.filestore), ""],
        ["naive: total", sec(n.total), "1.00×"],
      ],
    );
    printTable(
      "Daemon memory during the clone (VmRSS every 100 ms) — flat as the database grows",
      ["database", "before", "peak", "peak at", "clone time", "needles", "PII check", "check share"],
      sizes.map((s) => {
        const t = s.run.sampled.value.totalMs;
        const scan = s.run.scanSeconds;
        return [
          mb(s.dbBytes),
          mb(s.run.sampled.beforeBytes),
          mb(s.run.sampled.peakBytes),
          sec(s.run.sampled.peakAtMs),
          sec(t),
          s.run.needleSeconds === null ? "?" : `${s.run.needleSeconds.toFixed(1)} s`,
          scan === null ? "?" : `${scan.toFixed(1)} s`,
          scan === null ? "?" : `${((scan * 1000 * 100) / t).toFixed(1)} %`,
        ];
      }),
    );
    printTable(
      "Daemon peak per phase of the job (VmRSS samples within each)",
      ["database", "copy step", "needles read", "PII check", "rest of sanitize", "later steps"],
      sizes.map((s) => [mb(s.dbBytes), ...phasePeaks(s.run).map((b) => (b === null ? "-" : mb(b)))]),
    );
    console.log(
      `\nPII check share of the clone at the full size: ${share === null ? "unknown (no PII check line in the job log)" : `${(share * 100).toFixed(1)} % ${verdict(share <= TARGET_SCAN_SHARE)}`} (target ≤ ${TARGET_SCAN_SHARE * 100} %)`,
    );
    console.log(`What the check read (job log): ${full.run.scanned}`);
    // Where the time goes: fixed costs (stop, swap, start, health) vs the per-byte ones.
    const names = [...new Set(sizes.flatMap((s) => s.run.sampled.value.job.steps.map((st) => st.name)))];
    printTable(
      "Steps of the clone job (jobs show --json), per database size",
      ["step", ...sizes.map((s) => mb(s.dbBytes))],
      names.map((name) => [
        name,
        ...sizes.map((s) => {
          const ms = s.run.sampled.value.job.steps.find((st) => st.name === name)?.durationMs;
          return ms === null || ms === undefined ? "-" : sec(ms);
        }),
      ]),
    );
  } finally {
    await h.stop();
  }
}

await main();
