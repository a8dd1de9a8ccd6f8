/**
 * `odooops init --yes` end to end on temp roots, with a real private PostgreSQL, s3rver, docker
 * and nginx for the prerequisite checks, and real daemons: config and secrets on disk, re-runs
 * that change only what changed, a failed S3 probe that saves nothing, the systemd unit accepted
 * by systemd-analyze and the API verified, and an agent that enrolls only with a live coordinator.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseDocument } from "yaml";
import { AuthService } from "../../src/auth/service";
import { loadConfig } from "../../src/config/load";
import { resolvePaths } from "../../src/config/paths";
import { startDaemon } from "../../src/daemon/serve";
import { verifyUnit } from "../../src/host/systemd";
import { joinFile, readJoin } from "../../src/init/join";
import { waitForHealth } from "../../src/init/verify";
import { openState } from "../../src/state/db";
import { runCliWith } from "../support/cli";
import { writeDebianLikeNginxConf } from "../support/nginx";
import { freePort } from "../support/ports";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { startS3, type TestS3 } from "../support/s3";
import { makeTempDir, removeTempDir } from "../support/tmp";
import { parseRecoveryPrivateKey } from "../../src/dr/recovery-key";

const SLOW = 120_000;
const REPO = resolve(import.meta.dir, "..", "..");
const ADMIN_PW = "init-admin-password";
const STANDIN_IMAGE = "odooops-test/odoo:17.0";

let pg: TestPostgres;
let s3: TestS3;
let scratch: string;
let nginxConf: string;
const dirs: string[] = [];
const stops: (() => Promise<unknown> | unknown)[] = [];

beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres(), startS3()]);
  await s3.target("init-it");
  scratch = makeTempDir("odooops-init-it-");
  writeFileSync(join(scratch, "s3-secret"), "S3RVER\n");
  writeFileSync(join(scratch, "pg-password"), `${pg.password}\n`);
  nginxConf = writeDebianLikeNginxConf(join(scratch, "nginx"));
}, 120_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  await s3?.destroy();
  await pg?.stop();
  for (const d of [...dirs, scratch]) if (d) removeTempDir(d);
}, 60_000);

function newRoot(): string {
  const d = makeTempDir("odooops-init-root-");
  dirs.push(d);
  return d;
}

const noApi = () => Promise.reject(new Error("init must not use the API client"));

function init(root: string, flags: string[], stdin?: string) {
  // Always a private nginx config: init wires the system's nginx otherwise (/etc/nginx/conf.d).
  return runCliWith(["init", "--root", root, "--nginx-config", nginxConf, ...flags], { fetch: noApi, env: {}, stdin });
}

/** The flags of a complete standalone setup against the test services. */
function fullFlags(): string[] {
  return [
    "--yes",
    "--no-systemd",
    "--json",
    "--base-domain",
    "example.com",
    "--subdomain-staging",
    "stg",
    "--acme-ca",
    "letsencrypt-staging",
    "--acme-email",
    "ops@example.com",
    "--s3-endpoint",
    s3.endpoint,
    "--s3-bucket",
    "init-it",
    "--s3-prefix",
    "backups",
    "--s3-access-key-id",
    "S3RVER",
    "--s3-secret-key-file",
    join(scratch, "s3-secret"),
    "--s3-path-style",
    "--admin-user",
    "ops",
    "--admin-password-file",
    "-",
    "--odoo-image",
    STANDIN_IMAGE,
    "--pg-host",
    pg.host,
    "--pg-port",
    String(pg.port),
    "--pg-user",
    pg.user,
    "--pg-password-file",
    join(scratch, "pg-password"),
    "--pg-hba-file",
    pg.hbaFile,
  ];
}

describe("init --yes", () => {
  let root: string;

  test(
    "writes the config 0600 with the secrets sealed, creates the admin, checks prerequisites",
    async () => {
      root = newRoot();
      const r = await init(root, fullFlags(), `${ADMIN_PW}\n`);
      if (r.code !== 0) console.error(r.stderr);
      expect(r.code).toBe(0);
      const result = JSON.parse(r.stdout);
      expect(result.s3).toBe("probed");
      expect(result.admin).toEqual({ username: "ops", action: "created" });
      expect(result.unit).toMatchObject({ file: null, started: null });
      expect(result.verified).toBeNull();
      // The recovery key: its private half in this one answer, only the public half on the host.
      expect(result.recoveryKey.privateText).toMatch(/^ODOOOPS-RECOVERY-KEY-1-[A-Za-z0-9_-]{43}$/);
      expect(parseRecoveryPrivateKey(result.recoveryKey.privateText).publicKey.fingerprint).toBe(
        result.recoveryKey.fingerprint,
      );
      expect(readFileSync(resolvePaths(root).recoveryPublicKeyFile, "utf8")).not.toContain(
        result.recoveryKey.privateText.slice(-43),
      );
      expect(
        Object.fromEntries(result.prerequisites.map((p: { id: string; status: string }) => [p.id, p.status])),
      ).toMatchObject({ docker: "pass", postgres: "pass" });

      const paths = resolvePaths(root);
      expect(statSync(paths.configYaml).mode & 0o777).toBe(0o600);
      expect(statSync(paths.secretKeyFile).mode & 0o777).toBe(0o600);
      const text = readFileSync(paths.configYaml, "utf8");
      expect(text).not.toContain(pg.password);
      expect(text).not.toContain(ADMIN_PW);
      expect(text).not.toMatch(/secretAccessKey: S3RVER/);
      const doc = parseDocument(text);
      expect(String(doc.getIn(["postgres", "password"]))).toMatch(/^enc:v1:/);
      expect(String(doc.getIn(["backups", "s3", "secretAccessKey"]))).toMatch(/^enc:v1:/);

      const c = loadConfig(paths, { env: {} });
      expect(c.baseDomain).toBe("example.com");
      expect(c.tiers.staging.subdomain).toBe("stg");
      expect(c.tiers.production.subdomain).toBe("");
      expect(c.acme).toMatchObject({
        enabled: true,
        email: "ops@example.com",
        directoryUrl: "https://acme-staging-v02.api.letsencrypt.org/directory",
      });
      expect(c.backups.s3).toMatchObject({
        endpoint: s3.endpoint,
        bucket: "init-it",
        prefix: "backups/",
        accessKeyId: "S3RVER",
        secretAccessKey: "S3RVER",
        forcePathStyle: true,
      });
      expect(c.postgres).toMatchObject({ host: pg.host, port: pg.port, password: pg.password, hbaFile: pg.hbaFile });
      expect(c.odoo.image).toBe(STANDIN_IMAGE);

      // The password went into the users table only; it logs in.
      const db = openState(paths.stateDb);
      try {
        const auth = new AuthService(db, { jwtSecretFile: paths.jwtSecretFile, sessionHours: 1 });
        expect((await auth.login("ops", ADMIN_PW)).username).toBe("ops");
      } finally {
        db.$client.close();
      }
      expect(existsSync(paths.adminPasswordFile)).toBe(false);

      // nginx (Debian layout) now includes this root's vhosts through one conf.d snippet.
      expect(result.nginx).toEqual({
        status: "included",
        how: "snippet",
        file: join(scratch, "nginx", "conf.d", "odooops.conf"),
      });
      expect(readFileSync(result.nginx.file, "utf8")).toContain(`include ${join(root, "nginx", "sites")}/*.conf;`);
      expect(c.nginx.configFile).toBe(nginxConf);
    },
    SLOW,
  );

  test(
    "a re-run without flags changes nothing; with one changed flag, one line of the file changes",
    async () => {
      const paths = resolvePaths(root);
      const before = readFileSync(paths.configYaml, "utf8");
      const same = await init(root, ["--yes", "--no-systemd", "--json"]);
      expect(same.code).toBe(0);
      expect(JSON.parse(same.stdout)).toMatchObject({
        changed: [],
        s3: "unchanged",
        admin: { username: "ops", action: "unchanged" },
        nginx: { status: "included", how: "already" },
      });
      expect(JSON.parse(same.stdout).recoveryKey.privateText).toBeUndefined(); // shown once, at creation
      expect(readFileSync(paths.configYaml, "utf8")).toBe(before);

      const one = await init(root, ["--yes", "--no-systemd", "--json", "--odoo-image", "odoo:18.0"]);
      expect(one.code).toBe(0);
      expect(JSON.parse(one.stdout)).toMatchObject({
        changed: ["odoo.image"],
        s3: "unchanged",
        admin: { username: "ops", action: "unchanged" },
      });
      const after = readFileSync(paths.configYaml, "utf8");
      const a = before.split("\n");
      const b = after.split("\n");
      expect(b.length).toBe(a.length);
      const diff = b.map((line, i) => [a[i], line]).filter(([x, y]) => x !== y);
      expect(diff).toEqual([[`  image: ${STANDIN_IMAGE}`, "  image: odoo:18.0"]]);
    },
    SLOW,
  );

  test(
    "a failed S3 probe is a clear error and saves nothing",
    async () => {
      const paths = resolvePaths(root);
      const before = readFileSync(paths.configYaml, "utf8");
      const r = await init(root, ["--yes", "--no-systemd", "--s3-bucket", "no-such-bucket-init"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("S3 target s3://no-such-bucket-init/backups/");
      expect(r.stderr).toContain("put failed");
      expect(r.stderr).toContain("nothing was saved");
      expect(readFileSync(paths.configYaml, "utf8")).toBe(before);

      const fresh = newRoot();
      const f = await init(fresh, [
        "--yes",
        "--no-systemd",
        "--s3-endpoint",
        s3.endpoint,
        "--s3-bucket",
        "no-such-bucket-init",
        "--s3-path-style",
      ]);
      expect(f.code).toBe(1);
      expect(existsSync(resolvePaths(fresh).configYaml)).toBe(false);
      expect(existsSync(resolvePaths(fresh).stateDb)).toBe(false);
    },
    SLOW,
  );

  test(
    "bad answers exit 2 naming the flag, before anything is written",
    async () => {
      const fresh = newRoot();
      const r = await init(fresh, ["--yes", "--no-systemd", "--base-domain", "Bad Domain"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("--base-domain: a lowercase domain name");
      const typo = await init(fresh, ["--yes", "--base-domian", "x.com"]);
      expect(typo.code).toBe(2);
      expect(typo.stderr).toContain("unknown flag for init: --base-domian");
      expect(existsSync(resolvePaths(fresh).configYaml)).toBe(false);
    },
    SLOW,
  );

  test("without a terminal and without --yes: exit 2 listing the flags, nothing written", async () => {
    const fresh = newRoot();
    const r = await init(fresh, ["--base-domain", "example.com"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("not a terminal: pass --yes");
    expect(r.stderr).toContain("--base-domain DOMAIN");
    expect(r.stderr).toContain("--no-systemd");
    expect(existsSync(resolvePaths(fresh).configDir)).toBe(false);
  });
});

describe("systemd unit and API verification", () => {
  test(
    "the unit init writes passes systemd-analyze verify; the daemon started as it says answers --verify-url",
    async () => {
      const root = newRoot();
      const port = await freePort();
      const unitFile = join(root, "odooops.service");
      const r = await init(
        root,
        [
          "--yes",
          "--no-systemd",
          "--json",
          "--listen",
          `127.0.0.1:${port}`,
          "--unit-file",
          unitFile,
          "--binary",
          process.execPath,
          "--admin-password-file",
          "-",
        ],
        `${ADMIN_PW}\n`,
      );
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).unit).toMatchObject({ file: unitFile, changed: true, started: null });
      const unit = readFileSync(unitFile, "utf8");
      const v = Bun.spawnSync(verifyUnit(unitFile).argv, { stdout: "pipe", stderr: "pipe" });
      expect(v.stderr.toString()).toBe("");
      expect(v.exitCode).toBe(0);

      const line = (key: string) =>
        unit
          .split("\n")
          .find((l) => l.startsWith(`${key}=`))
          ?.slice(key.length + 1) ?? "";
      expect(line("Environment")).toBe(`ODOOOPS_ROOT=${root}`);
      const [binary, ...args] = line("ExecStart").split(" ");
      expect(binary).toBe(process.execPath);
      expect(args).toEqual(["serve"]);
      // The unit's binary here is bun: the daemon is the same program as src/main.ts.
      const [k, val] = line("Environment").split("=");
      const proc = Bun.spawn([binary, join(REPO, "src", "main.ts"), ...args], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", [k]: val },
        stdin: "ignore",
        stdout: "ignore",
        stderr: "pipe",
      });
      stops.push(async () => {
        proc.kill("SIGTERM");
        await proc.exited;
      });
      await waitForHealth(`http://127.0.0.1:${port}`, { timeoutMs: 60_000, intervalMs: 100 });

      const again = await init(root, [
        "--yes",
        "--no-systemd",
        "--json",
        "--unit-file",
        unitFile,
        "--binary",
        process.execPath,
        "--verify-url",
        `http://127.0.0.1:${port}`,
      ]);
      expect(again.code).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({
        changed: [],
        verified: `http://127.0.0.1:${port}`,
        unit: { changed: false },
      });
      expect(again.stderr).toContain("API answers: odooops");
    },
    SLOW,
  );

  test("waiting for an API that never answers ends in a clear error", async () => {
    const port = await freePort();
    await expect(
      waitForHealth(`http://127.0.0.1:${port}`, {
        timeoutMs: 300,
        intervalMs: 50,
        hint: "see journalctl -u odooops -e",
      }),
    ).rejects.toThrow(`no answer at http://127.0.0.1:${port}/api/v1/health`);
  });
});

describe("agent", () => {
  test(
    "joins only a coordinator that answers; the token is stored sealed; no admin user on an agent",
    async () => {
      const coordRoot = newRoot();
      const coordinator = await startDaemon({
        root: coordRoot,
        listen: `127.0.0.1:${await freePort()}`,
        env: { ODOOOPS_ADMIN_PASSWORD: "coordinator-pw" },
      });
      stops.push(() => coordinator.stop());
      const root = newRoot();
      const dead = `http://127.0.0.1:${await freePort()}`;
      const refused = await init(root, [
        "--yes",
        "--no-systemd",
        "--role",
        "agent",
        "--join-url",
        dead,
        "--join-token",
        "join-token-123",
      ]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("the coordinator does not answer");
      expect(existsSync(resolvePaths(root).configYaml)).toBe(false);

      const r = await init(root, [
        "--yes",
        "--no-systemd",
        "--json",
        "--role",
        "agent",
        "--join-url",
        coordinator.url,
        "--join-token",
        "join-token-123",
      ]);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).admin).toBeNull();
      const paths = resolvePaths(root);
      expect(loadConfig(paths, { env: {} }).role).toBe("agent");
      expect(statSync(joinFile(paths)).mode & 0o777).toBe(0o600);
      expect(readFileSync(joinFile(paths), "utf8")).not.toContain("join-token-123");
      expect(readJoin(paths)).toEqual({ url: coordinator.url, token: "join-token-123" });
      expect(existsSync(paths.stateDb)).toBe(false);

      const back = await init(root, ["--yes", "--no-systemd", "--role", "standalone"]);
      expect(back.code).toBe(0);
      expect(existsSync(joinFile(paths))).toBe(false);
    },
    SLOW,
  );
});
