/**
 * Test harness: a private PostgreSQL 15 cluster in a temp dir, on a free port, reachable from
 * the host (127.0.0.1) and from Docker containers (docker0 address), with scram auth.
 */
import { chownSync, readFileSync, writeFileSync, appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { userInfo } from "node:os";
import type { SQL } from "bun";
import { run } from "../../src/exec/run";
import { pgConnect } from "../../src/host/postgres/connect";
import { freePort } from "./ports";
import { makeTempDir, removeTempDir } from "./tmp";

const PG_BIN = process.env.ODOOOPS_TEST_PGBIN ?? "/usr/lib/postgresql/15/bin";
/** Docker's default address pools (bridge + user-defined networks). */
export const DOCKER_SUBNETS = ["172.16.0.0/12", "192.168.0.0/16"];

export interface StartPostgresOptions {
  /** Add `host all all <docker subnets> scram-sha-256` (default true). */
  dockerAccess?: boolean;
}

export interface TestPostgres {
  /** 127.0.0.1 */
  host: string;
  port: number;
  /** Superuser name (`postgres`). */
  user: string;
  password: string;
  /** docker0 address the cluster also listens on (null when docker0 does not exist). */
  dockerHost: string | null;
  /** Unix socket directory. */
  socketDir: string;
  hbaFile: string;
  dataDir: string;
  /** postgres://postgres:<pw>@127.0.0.1:<port>/postgres */
  url: string;
  /** Runs `fn` on a superuser connection to `database`, closed after. */
  query<T>(database: string, fn: (sql: SQL) => Promise<T>): Promise<T>;
  /** Immediate shutdown + removal of the temp dir; safe to call twice. */
  stop(): Promise<void>;
}

/** The IPv4 address of docker0, or null (no Docker bridge on this machine). */
export async function docker0Address(): Promise<string | null> {
  const r = await run({ argv: ["ip", "-4", "-o", "addr", "show", "docker0"] }, { nothrow: true });
  const m = /\binet (\d+\.\d+\.\d+\.\d+)\//.exec(r.stdout);
  return r.exitCode === 0 && m ? m[1] : null;
}

/** Starts a cluster; see TestPostgres. initdb refuses root, so as root it runs as `postgres`. */
export async function startPostgres(opts: StartPostgresOptions = {}): Promise<TestPostgres> {
  const asRoot = userInfo().uid === 0;
  const runAs = asRoot ? ["runuser", "-u", "postgres", "--"] : [];
  const base = makeTempDir("odooops-pg-");
  const dataDir = join(base, "data");
  const socketDir = join(base, "sock");
  mkdirSync(dataDir, { mode: 0o700 });
  mkdirSync(socketDir, { mode: 0o755 });
  const password = `pw-${crypto.randomUUID()}`;
  const pwFile = join(base, "pwfile");
  writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
  if (asRoot) {
    const { uid, gid } = await postgresIds();
    for (const p of [dataDir, socketDir, pwFile]) chownSync(p, uid, gid);
  }
  const port = await freePort();
  const dockerHost = await docker0Address();
  let started = false;
  const stop = async () => {
    if (started) {
      started = false;
      await run(
        { argv: [...runAs, join(PG_BIN, "pg_ctl"), "-D", dataDir, "-m", "immediate", "-w", "stop"] },
        { nothrow: true },
      );
    }
    process.off("exit", killOnExit);
    removeTempDir(base);
  };
  // If the test process dies without afterAll, do not leave a postmaster behind.
  const killOnExit = () => {
    try {
      const pid = Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
      if (pid > 0) process.kill(pid, "SIGQUIT");
    } catch {
      // Already gone.
    }
  };
  process.on("exit", killOnExit);
  try {
    await run({
      argv: [
        ...runAs,
        join(PG_BIN, "initdb"),
        "-D",
        dataDir,
        "-U",
        "postgres",
        `--pwfile=${pwFile}`,
        "-E",
        "UTF8",
        "--no-locale",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "--no-sync",
      ],
      timeoutMs: 120_000,
    });
    const listen = ["127.0.0.1", ...(dockerHost ? [dockerHost] : [])].join(",");
    appendFileSync(
      join(dataDir, "postgresql.conf"),
      [
        `listen_addresses = '${listen}'`,
        `port = ${port}`,
        `unix_socket_directories = '${socketDir}'`,
        "fsync = off",
        "synchronous_commit = off",
        "full_page_writes = off",
        "max_connections = 50",
        "",
      ].join("\n"),
    );
    const hba = [
      "# odooops test cluster",
      "local all all trust",
      "host all all 127.0.0.1/32 scram-sha-256",
      ...(opts.dockerAccess === false ? [] : DOCKER_SUBNETS.map((s) => `host all all ${s} scram-sha-256`)),
      "",
    ].join("\n");
    const hbaFile = join(dataDir, "pg_hba.conf");
    writeFileSync(hbaFile, hba, { mode: 0o640 });
    if (asRoot) {
      const { uid, gid } = await postgresIds();
      chownSync(hbaFile, uid, gid);
    }
    started = true;
    await run({
      argv: [
        ...runAs,
        join(PG_BIN, "pg_ctl"),
        "-D",
        dataDir,
        "-l",
        join(socketDir, "postgres.log"),
        "-w",
        "-t",
        "60",
        "start",
      ],
      timeoutMs: 90_000,
    });
    return {
      host: "127.0.0.1",
      port,
      user: "postgres",
      password,
      dockerHost,
      socketDir,
      hbaFile,
      dataDir,
      url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
      async query(database, fn) {
        const sql = pgConnect({ host: "127.0.0.1", port, user: "postgres", password, database });
        try {
          return await fn(sql);
        } finally {
          await sql.close();
        }
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("postgres:"));
  if (!line) throw new Error("system user postgres missing (apt-get install postgresql)");
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}
