/**
 * A whole odooops host for the database benchmarks (bench/db-ops.ts): a private PostgreSQL
 * cluster, nginx and s3rver (test/support), `dist/odooops serve` on a temp root with s3rver as
 * the only backup target (local copies off: the backup is S3-only, as the figures claim), and
 * two dev envs made with `env create`: `bench` (whose database the bench grows) and `copy` (the
 * clone target). Everything it creates carries a random `b<8 hex>` docker name prefix or an
 * env's label and is removed by `stop()`, also after a failed setup or on Ctrl-C.
 */
import { hostConfig, randomPortBase, writeHostConfig } from "../../test/support/host-config";
import type { RunResult } from "../../src/exec/run";
import type { EnvDetail } from "../../src/env/schema";
import type { S3Target } from "../../src/host/s3/schema";
import { removeByLabel, removeByNamePrefix, webContainerNames } from "../../test/support/docker";
import { startNginx, type TestNginx } from "../../test/support/nginx";
import { startPostgres, type TestPostgres } from "../../test/support/postgres";
import { startS3, type TestS3 } from "../../test/support/s3";
import { makeTempDir, removeTempDir } from "../../test/support/tmp";
import { benchCli, requireBinary, startDaemon, type Daemon, type TimedJob } from "./daemon";
import { cleanupOnExit } from "./proc";

export type { TimedJob };
import { inspectShape } from "./deploy-host";

/** A 2 GB restore on two busy cores takes minutes; nothing here may hang for ever. */
export const STEP_TIMEOUT_MS = 60 * 60_000;

export interface BenchEnv {
  id: string;
  slug: string;
  dbName: string;
  dbUser: string;
  /** Mounted as /var/lib/odoo; the filestore is `<dataDir>/filestore/<dbName>`. */
  dataDir: string;
}

export interface DbHost {
  pg: TestPostgres;
  s3: TestS3;
  /** The daemon's backup target (changed by `useS3Endpoint`). */
  target: S3Target;
  root: string;
  /** Scratch space for the baselines (dump files), removed by stop(). */
  tmp: string;
  daemonPid(): number;
  source: BenchEnv;
  copy: BenchEnv;
  cli(...argv: string[]): Promise<RunResult>;
  /** Spawn → exit of a `--wait` command that runs one job; the job and its log after. */
  timedJob(argv: string[]): Promise<TimedJob>;
  /** Restarts the daemon with its S3 target at `endpoint` (same bucket and credentials). */
  useS3Endpoint(endpoint: string): Promise<void>;
  /** Idempotent; also runs on SIGINT/SIGTERM. */
  stop(): Promise<void>;
}

export async function startDbHost(): Promise<DbHost> {
  requireBinary();
  const prefix = `b${crypto.randomUUID().slice(0, 8)}`;
  const tmp = makeTempDir("odooops-bench-db-");
  const ports = randomPortBase();
  let pg: TestPostgres | null = null;
  let nginx: TestNginx | null = null;
  let s3: TestS3 | null = null;
  let daemon: Daemon | null = null;
  const envIds: string[] = [];

  const stop = cleanupOnExit(async () => {
    await daemon?.stop();
    daemon = null;
    for (const id of envIds) await removeByLabel(`odooops.env=${id}`);
    await removeByNamePrefix(prefix);
    await s3?.destroy();
    await nginx?.stop();
    await pg?.stop();
    removeTempDir(tmp);
  });

  try {
    pg = await startPostgres({ dockerAccess: false });
    nginx = await startNginx();
    s3 = await startS3();
    const target = await s3.target(`bench-${prefix}`, { prefix: "odooops" });
    const root = nginx.dir;
    const base = {
      pg,
      nginx,
      baseDomain: "bench.localhost",
      namePrefix: prefix,
      portsFrom: ports,
      healthTimeoutSec: 120,
    };
    const writeConfig = (s3Target: S3Target) =>
      writeHostConfig(root, hostConfig(base, { backups: { local: { enabled: false }, s3: s3Target } }));
    writeConfig(target);
    daemon = await startDaemon(root);

    const { cli, timedJob } = benchCli(root, STEP_TIMEOUT_MS);
    const makeEnv = async (name: string): Promise<BenchEnv> => {
      await cli("env", "create", name, "--tier", "dev", "--wait");
      const env = JSON.parse((await cli("env", "get", name, "--json")).stdout) as EnvDetail;
      envIds.push(env.id);
      // postgresql://<role>:***@host:port/<db>
      const m = /^postgresql:\/\/([^:]+):[^@]*@[^/]+\/(.+)$/.exec(env.databaseUrl);
      if (!m?.[1] || !m[2]) throw new Error(`cannot read role/database from ${env.databaseUrl}`);
      const names = await webContainerNames(env.id);
      if (names.length !== 1)
        throw new Error(`expected one running container of ${env.slug}: ${names.join(", ") || "none"}`);
      const shape = await inspectShape(names[0] as string);
      return { id: env.id, slug: env.slug, dbUser: m[1], dbName: m[2], dataDir: shape.dataDir };
    };
    const source = await makeEnv("bench");
    const copy = await makeEnv("copy");
    const host: DbHost = {
      pg,
      s3,
      target,
      root,
      tmp,
      daemonPid: () => {
        if (!daemon) throw new Error("the bench daemon is not running");
        return daemon.pid;
      },
      source,
      copy,
      cli,
      timedJob,
      async useS3Endpoint(endpoint) {
        await daemon?.stop();
        daemon = null;
        host.target = { ...target, endpoint };
        writeConfig(host.target);
        daemon = await startDaemon(root);
      },
      stop,
    };
    return host;
  } catch (e) {
    await stop();
    throw e;
  }
}
