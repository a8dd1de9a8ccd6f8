/**
 * `odooops init` as a real process: without a terminal it never waits for input, and under a
 * real pseudo-terminal (Bun.Terminal) the wizard's answers produce the same config as the flags.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { AuthService } from "../../src/auth/service";
import { loadConfig } from "../../src/config/load";
import { resolvePaths } from "../../src/config/paths";
import { openState } from "../../src/state/db";
import { runCliWith } from "../support/cli";
import { freePort } from "../support/ports";
import { writeDebianLikeNginxConf } from "../support/nginx";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { startS3, type TestS3 } from "../support/s3";
import { makeTempDir, removeTempDir } from "../support/tmp";

const SLOW = 120_000;
const MAIN = resolve(import.meta.dir, "..", "..", "src", "main.ts");
const ADMIN_PW = "wizard-admin-pw";
const STANDIN_IMAGE = "odooops-test/odoo:17.0";

let pg: TestPostgres;
let s3: TestS3;
const dirs: string[] = [];

beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres(), startS3()]);
  await s3.target("wizard-it");
}, 120_000);

afterAll(async () => {
  await s3?.destroy();
  await pg?.stop();
  for (const d of dirs) removeTempDir(d);
}, 60_000);

function newDir(): string {
  const d = makeTempDir("odooops-cli-init-");
  dirs.push(d);
  return d;
}

/** A clean environment: no CI marker (clack is used only outside CI), no ODOOOPS_* leaking in. */
function childEnv(): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/root",
    TERM: "xterm-256color",
    LANG: "C.UTF-8",
  };
}

describe("without a terminal", () => {
  for (const stdin of ["ignore", "pipe"] as const) {
    test(
      `stdin ${stdin === "ignore" ? "closed" : "an open pipe that never sends"}, no --yes: exit 2 with the flag list, never waits`,
      async () => {
        const root = newDir();
        const proc = Bun.spawn(["bun", MAIN, "init", "--root", root], {
          env: childEnv(),
          stdin,
          stdout: "pipe",
          stderr: "pipe",
          timeout: 60_000,
        });
        const [out, err, code] = await Promise.all([
          new Response(proc.stdout).text(),
          new Response(proc.stderr).text(),
          proc.exited,
        ]);
        expect(proc.signalCode).toBeNull(); // not killed by the timeout: it did not wait for input
        expect(code).toBe(2);
        expect(out).toBe("");
        expect(err).toContain("not a terminal: pass --yes");
        for (const flag of [
          "--role ROLE",
          "--join-url URL",
          "--base-domain DOMAIN",
          "--acme-ca CA",
          "--s3-bucket BUCKET",
          "--admin-password-file FILE",
          "--odoo-image IMAGE",
          "--install-deps",
          "--no-systemd",
        ]) {
          expect(err).toContain(flag);
        }
        expect(existsSync(resolvePaths(root).configYaml)).toBe(false);
      },
      SLOW,
    );
  }
});

/** Drives a process on a pseudo-terminal: wait for a prompt's text, then type the answer. */
class Screen {
  private out = "";
  private cursor = 0;
  readonly proc: Bun.Subprocess;
  private readonly term: Bun.Terminal;

  constructor(argv: string[], env: Record<string, string>) {
    const decoder = new TextDecoder();
    this.term = new Bun.Terminal({
      cols: 250,
      rows: 60,
      data: (_t, d) => {
        this.out += decoder.decode(d, { stream: true });
      },
    });
    this.proc = Bun.spawn(argv, { terminal: this.term, env });
  }

  text(): string {
    return this.out;
  }

  async answer(prompt: string, keys: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    let i = this.out.indexOf(prompt, this.cursor);
    while (i < 0) {
      if (Date.now() > deadline || this.proc.exitCode !== null)
        throw new Error(`prompt ${JSON.stringify(prompt)} never appeared; screen:\n${this.out.slice(-3000)}`);
      await Bun.sleep(20);
      i = this.out.indexOf(prompt, this.cursor);
    }
    this.cursor = i + prompt.length;
    // Let the prompt finish drawing and start listening before the keys arrive.
    await Bun.sleep(150);
    this.term.write(keys);
  }

  async close(): Promise<void> {
    this.proc.kill();
    await this.proc.exited;
    this.term.close();
  }
}

const ENTER = "\r";
const UP = "\x1b[A";

describe("the wizard on a pseudo-terminal", () => {
  test("PostgreSQL not answering where the flags say: the wizard asks how to reach it, and the config keeps the answer", async () => {
    const dir = newDir();
    const root = join(dir, "asked");
    const pgPassword = join(dir, "pg-password");
    writeFileSync(pgPassword, "not-the-password\n");
    const nothingThere = await freePort();
    const screen = new Screen(
      [
        "bun",
        MAIN,
        "init",
        "--root",
        root,
        "--no-systemd",
        "--pg-host",
        pg.host,
        "--pg-port",
        String(nothingThere),
        "--pg-user",
        "nobody_here",
        "--pg-password-file",
        pgPassword,
        "--pg-hba-file",
        pg.hbaFile,
        "--nginx-config",
        writeDebianLikeNginxConf(join(dir, "nginx")),
      ],
      childEnv(),
    );
    try {
      await screen.answer("Role of this host", ENTER);
      await screen.answer("Base domain of the environments", `example.com${ENTER}`);
      await screen.answer("Keep the tier hostnames?", "y");
      await screen.answer("Certificates (ACME CA)", ENTER);
      await screen.answer("Keep backups on this host?", "y");
      await screen.answer("Local backup directory", ENTER);
      // The accepted placeholder is shown as the answer, not blank.
      await screen.answer("Copy backups to S3", "n");
      expect(screen.text()).toContain(resolvePaths(root).backupsDir);
      await screen.answer("API admin user", `ops${ENTER}`);
      await screen.answer("Password of ops", `${ADMIN_PW}${ENTER}`);
      await screen.answer("Default Odoo image", `${STANDIN_IMAGE}${ENTER}`);
      await screen.answer("PostgreSQL host", ENTER);
      await screen.answer("PostgreSQL port", `${pg.port}${ENTER}`);
      await screen.answer("Admin role", `${pg.user}${ENTER}`);
      await screen.answer(`Password of ${pg.user}`, `${pg.password}${ENTER}`);
      const code = await Promise.race([screen.proc.exited, Bun.sleep(90_000).then(() => "timeout" as const)]);
      if (code !== 0) console.error(screen.text().slice(-4000));
      expect(code).toBe(0);
      expect(screen.text()).toContain("odooops cannot connect to PostgreSQL with the current settings");
    } finally {
      await screen.close();
    }
    const config = loadConfig(resolvePaths(root), { env: {} });
    expect(config.postgres).toMatchObject({ host: pg.host, port: pg.port, user: pg.user, password: pg.password });
  }, 240_000);

  test("its answers produce the same config (and admin) as the same answers given as flags", async () => {
    const dir = newDir();
    const pgPassword = join(dir, "pg-password");
    writeFileSync(pgPassword, `${pg.password}\n`);
    // Connection settings are flags in both runs: the wizard does not ask for them.
    // A private nginx config too: init would otherwise wire the system's nginx.
    const pgFlags = [
      "--pg-host",
      pg.host,
      "--pg-port",
      String(pg.port),
      "--pg-user",
      pg.user,
      "--pg-password-file",
      pgPassword,
      "--pg-hba-file",
      pg.hbaFile,
      "--nginx-config",
      writeDebianLikeNginxConf(join(dir, "nginx")),
    ];

    const wizardRoot = join(dir, "wizard");
    const screen = new Screen(["bun", MAIN, "init", "--root", wizardRoot, "--no-systemd", ...pgFlags], childEnv());
    try {
      await screen.answer("Role of this host", ENTER);
      await screen.answer("Base domain of the environments", `example.com${ENTER}`);
      await screen.answer("Keep the tier hostnames?", "n");
      await screen.answer("Subdomain of dev envs", ENTER);
      await screen.answer("Subdomain of PR previews", ENTER);
      await screen.answer("Subdomain of staging envs", `stg${ENTER}`);
      await screen.answer("Subdomain of production envs", ENTER);
      await screen.answer("Certificates (ACME CA)", `${UP}${UP}${ENTER}`); // none → Let's Encrypt staging
      await screen.answer("Contact email for certificate expiry notices", `ops@example.com${ENTER}`);
      await screen.answer("Keep backups on this host?", "y");
      await screen.answer("Local backup directory", ENTER);
      await screen.answer("Copy backups to S3", "y");
      await screen.answer("S3 endpoint URL", `${s3.endpoint}${ENTER}`);
      await screen.answer("S3 region", ENTER);
      await screen.answer("S3 bucket", `wizard-it${ENTER}`);
      await screen.answer("Key prefix inside the bucket", `backups${ENTER}`);
      await screen.answer("Access key id", `S3RVER${ENTER}`);
      await screen.answer("Secret access key", `S3RVER${ENTER}`);
      await screen.answer("Path-style URLs?", "y");
      await screen.answer("API admin user", `ops${ENTER}`);
      await screen.answer("Password of ops", `${ADMIN_PW}${ENTER}`);
      await screen.answer("Default Odoo image", `${STANDIN_IMAGE}${ENTER}`);
      const code = await Promise.race([screen.proc.exited, Bun.sleep(90_000).then(() => "timeout" as const)]);
      if (code !== 0) console.error(screen.text().slice(-4000));
      expect(code).toBe(0);
      expect(screen.text()).toContain("done. Next:");
    } finally {
      await screen.close();
    }

    const flagsRoot = join(dir, "flags");
    writeFileSync(join(dir, "admin-pw"), `${ADMIN_PW}\n`);
    const flagged = await runCliWith(
      [
        "init",
        "--root",
        flagsRoot,
        "--yes",
        "--no-systemd",
        ...pgFlags,
        "--base-domain",
        "example.com",
        "--subdomain-staging",
        "stg",
        "--acme-ca",
        "letsencrypt-staging",
        "--acme-email",
        "ops@example.com",
        "--local-backups",
        "--s3-endpoint",
        s3.endpoint,
        "--s3-bucket",
        "wizard-it",
        "--s3-prefix",
        "backups",
        "--s3-access-key-id",
        "S3RVER",
        "--s3-secret-key-file",
        "-",
        "--s3-path-style",
        "--admin-user",
        "ops",
        "--admin-password-file",
        join(dir, "admin-pw"),
        "--odoo-image",
        STANDIN_IMAGE,
      ],
      { fetch: () => Promise.reject(new Error("no API")), env: {}, stdin: "S3RVER\n" },
    );
    if (flagged.code !== 0) console.error(flagged.stderr);
    expect(flagged.code).toBe(0);

    const fromWizard = loadConfig(resolvePaths(wizardRoot), { env: {} });
    const fromFlags = loadConfig(resolvePaths(flagsRoot), { env: {} });
    expect(fromWizard).toEqual(fromFlags);
    expect(fromWizard.tiers.staging.subdomain).toBe("stg");
    expect(fromWizard.backups.s3?.secretAccessKey).toBe("S3RVER");
    for (const root of [wizardRoot, flagsRoot]) {
      const paths = resolvePaths(root);
      const db = openState(paths.stateDb);
      try {
        const auth = new AuthService(db, { jwtSecretFile: paths.jwtSecretFile, sessionHours: 1 });
        expect((await auth.login("ops", ADMIN_PW)).username).toBe("ops");
      } finally {
        db.$client.close();
      }
    }
  }, 240_000);
});
