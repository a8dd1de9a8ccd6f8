#!/usr/bin/env bun
/**
 * RTO and RPO of `dr test` (issue #18) on the generated Odoo-shaped database of bench/db-ops.ts,
 * against a plain restore of the same dump in the same run, same machine, same data:
 *   ours      `db backup bench --wait` (to s3rver), then `dr test --env bench --wait`: download,
 *             sha256, `pg_restore -j <cores>` into a throwaway copy, verify against the manifest,
 *             neutralize, boot the env's image on it, health — its RTO is restore start →
 *             healthy, its RPO the backup's age at the test's start (`dr reports --json`)
 *   baseline  `pg_dump -Fc -Z1` of the same database (`backups.compressLevel`'s default: the
 *             bytes the backup stored) to a file, then createdb + `pg_restore -j 2` into a fresh
 *             database — a restore with nothing checked and nothing booted
 * BENCH_DR_MB (default 2048 MiB of pg_database_size, the issue's 2 GiB). Reports only: the
 * exit code is 0 unless the bench itself broke. Needs `bun run build`, dockerd, the stand-in
 * image and root, like bench/db-ops.ts (whose host it reuses).
 */
import { join } from "node:path";
import { createRole } from "../src/host/postgres/ops";
import { pgConnect } from "../src/host/postgres";
import { startDbHost, type DbHost } from "./lib/db-host";
import { generateOdooData } from "./lib/odoo-data";
import { dropDb, pgDumpTo, restoreInto } from "./lib/pg-baseline";
import { sampleRss } from "./lib/rss-sampler";
import { mb } from "./lib/stats";
import { printTable } from "./lib/table";

const n = Number(process.env.BENCH_DR_MB ?? 2048);
const SIZE_MB = Number.isFinite(n) ? Math.min(Math.max(n, 30), 100_000) : 2048;
const MiB = 1024 * 1024;
const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const err = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const load = async () => (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");

interface DrReport {
  env: string;
  outcome: string;
  rtoMs: number | null;
  rpoSec: number | null;
  backupId: string;
}

async function baseline(h: DbHost): Promise<{ dump: number; restore: number; bytes: number }> {
  const file = join(h.tmp, "dr-baseline.dump");
  const db = "dr_baseline_copy";
  const role = { user: "dr_baseline_owner", password: `pw-${crypto.randomUUID()}` };
  const admin = pgConnect(h.pg);
  try {
    await createRole(admin, role.user, role.password);
  } finally {
    await admin.close();
  }
  const dump = await pgDumpTo(h.pg, h.source.dbName, file, ["-Z1"]);
  const bytes = Bun.file(file).size;
  const restore = await restoreInto(h.pg, file, db, role.user, 2);
  await dropDb(h.pg, db);
  await Bun.file(file).delete();
  return { dump, restore, bytes };
}

async function main(): Promise<void> {
  const h = await startDbHost();
  try {
    err(`generating: database → ${SIZE_MB} MiB`);
    const g = await generateOdooData({
      pg: h.pg,
      db: h.source.dbName,
      owner: h.source.dbUser,
      targetBytes: SIZE_MB * MiB,
      filestoreDir: join(h.source.dataDir, "filestore", h.source.dbName),
      filestoreBytes: Math.round(SIZE_MB * MiB * 0.05),
      filestoreOwner: { uid: 101, gid: 101 },
      log: err,
    });
    const loadAtSize = await load();
    err("backup");
    const backup = await h.timedJob(["db", "backup", h.source.slug, "--wait"]);
    err("dr test");
    const dr = await sampleRss(h.daemonPid(), () => h.timedJob(["dr", "test", "--env", h.source.slug, "--wait"]));
    const reports = JSON.parse((await h.cli("dr", "reports", "--env", h.source.slug, "--json")).stdout) as {
      tests: DrReport[];
    };
    const report = reports.tests[0];
    if (report?.outcome !== "passed" || report.rtoMs === null)
      throw new Error(`dr test did not pass: ${JSON.stringify(report)}`);
    err("baseline: pg_dump -Z1 + pg_restore -j 2");
    const b = await baseline(h);

    console.log(
      `\ndr test RTO · ${new Date().toISOString().slice(0, 16)}Z · load when generated ${loadAtSize}, at the end ${await load()}`,
    );
    console.log(
      `Database ${mb(g.dbBytes)} (pg_database_size; MB = MiB), filestore ${mb(g.filestoreBytes)}; dump -Z1 ${mb(b.bytes)}`,
    );
    printTable(
      "dr test of the env's newest backup vs a plain restore of the same dump",
      ["", "time", "vs plain restore"],
      [
        ["db backup (pg_dump -Z1 + filestore tar → S3)", sec(backup.totalMs), ""],
        ["dr test RTO (restore start → copy healthy)", sec(report.rtoMs), `${(report.rtoMs / b.restore).toFixed(2)}×`],
        ["dr test RPO (backup age at the test's start)", `${report.rpoSec ?? "?"} s`, ""],
        ["dr test, whole command (spawn → exit)", sec(dr.value.totalMs), ""],
        ["baseline: pg_dump -Fc -Z1 → file", sec(b.dump), ""],
        ["baseline: createdb + pg_restore -j 2", sec(b.restore), "1.00×"],
      ],
    );
    printTable(
      "Steps of the dr test job (jobs show --json)",
      ["step", "time"],
      dr.value.job.steps.map((st) => [st.name, st.durationMs === null ? "-" : sec(st.durationMs)]),
    );
    console.log(`\nDaemon VmRSS during the dr test: before ${mb(dr.beforeBytes)}, peak ${mb(dr.peakBytes)}`);
    const lines = dr.value.log.split("\n").filter((l) => /restored into|RTO|neutralized|booted/.test(l));
    console.log(`What the job logged:\n${lines.map((l) => `  ${l}`).join("\n")}`);
  } finally {
    await h.stop();
  }
}

await main();
