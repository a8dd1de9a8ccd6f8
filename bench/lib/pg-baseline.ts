/**
 * The baselines of bench/db-ops.ts as plain commands an admin would type: pg_dump to a file or
 * /dev/null, tar of the filestore, an upload of the files with @aws-sdk/lib-storage, pg_restore
 * with N jobs. The pg_dump/pg_restore flags mirror src/db/backup/commands.ts (`-Fc`, `-Z` as
 * given, `--no-owner --no-privileges --role=<env role>`), so both sides
 * move the same bytes with the same settings.
 */
import { Upload } from "@aws-sdk/lib-storage";
import { createReadStream } from "node:fs";
import { rm, stat } from "node:fs/promises";
import { run } from "../../src/exec/run";
import { pgConnect } from "../../src/host/postgres/connect";
import { createDatabase, dropDatabase } from "../../src/host/postgres/ops";
import { openS3 } from "../../src/host/s3/client";
import type { S3Target } from "../../src/host/s3/schema";
import type { TestPostgres } from "../../test/support/postgres";

const TIMEOUT_MS = 60 * 60_000;

function pgEnv(pg: TestPostgres): Record<string, string> {
  return { PGPASSWORD: pg.password };
}

function conn(pg: TestPostgres): string[] {
  return ["-h", pg.host, "-p", String(pg.port), "-U", pg.user, "--no-password"];
}

/**
 * `pg_dump -Fc … > out` (a file, or /dev/null); wall ms. Through stdout, not `-f`: with -f
 * pg_dump fsyncs the file at the end, which our S3-only backup never pays either.
 */
export async function pgDumpTo(pg: TestPostgres, db: string, out: string, extra: string[] = []): Promise<number> {
  const argv = ["pg_dump", "-Fc", ...extra, ...conn(pg), "-d", db];
  // Bun.file as stdout does not truncate: a shorter dump into an old file would keep its size.
  if (out !== "/dev/null") await rm(out, { force: true });
  const t0 = performance.now();
  const proc = Bun.spawn(argv, {
    env: { ...process.env, ...pgEnv(pg) },
    stdin: "ignore",
    stdout: Bun.file(out),
    stderr: "pipe",
  });
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`${argv.join(" ")} > ${out} exited ${code}: ${stderr}`);
  return performance.now() - t0;
}

/** The filestore as a tar file, the way the backup archives it (numeric owners, relative paths). */
export async function tarTo(dir: string, out: string): Promise<number> {
  const r = await run({ argv: ["tar", "-C", dir, "--numeric-owner", "-cf", out, "."], timeoutMs: TIMEOUT_MS });
  return r.durationMs;
}

/** One file to S3 through lib-storage with the target's part size and queue size; wall ms. */
export async function uploadFile(target: S3Target, file: string, key: string): Promise<number> {
  const store = await openS3(target);
  const t0 = performance.now();
  try {
    const up = new Upload({
      client: store.client,
      params: {
        Bucket: target.bucket,
        Key: key,
        Body: createReadStream(file),
        ContentType: "application/octet-stream",
      },
      partSize: target.partSizeMb * 1024 * 1024,
      queueSize: target.queueSize,
      leavePartsOnError: false,
    });
    await up.done();
    // Our backup checks size (and ETag) after completing; so does the baseline, to be fair.
    const info = await store.head(key);
    const size = (await stat(file)).size;
    if (info?.size !== size) throw new Error(`${key}: server has ${info?.size ?? "no"} bytes, file has ${size}`);
    return performance.now() - t0;
  } finally {
    store.close();
  }
}

/** CREATE DATABASE owned by `owner`, then `pg_restore -j <jobs>` of `file` into it; wall ms of both. */
export async function restoreInto(
  pg: TestPostgres,
  file: string,
  db: string,
  owner: string,
  jobs: number,
): Promise<number> {
  const admin = pgConnect(pg);
  try {
    const t0 = performance.now();
    await createDatabase(admin, db, owner);
    await run({
      argv: [
        "pg_restore",
        ...conn(pg),
        "-d",
        db,
        "--no-owner",
        "--no-privileges",
        `--role=${owner}`,
        ...(jobs > 1 ? ["-j", String(jobs)] : []),
        file,
      ],
      env: pgEnv(pg),
      timeoutMs: TIMEOUT_MS,
    });
    return performance.now() - t0;
  } finally {
    await admin.close();
  }
}

export async function dropDb(pg: TestPostgres, db: string): Promise<void> {
  const admin = pgConnect(pg);
  try {
    await dropDatabase(admin, db);
  } finally {
    await admin.close();
  }
}
