/**
 * `odooops doctor` on a temp root with every service real: a private PostgreSQL cluster, a
 * private nginx, s3rver, pebble as the ACME CA, the daemon, docker with the stand-in image.
 * Everything passes; then PostgreSQL is stopped and exactly its checks change.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { saveCertificate } from "../../src/certs";
import { resolvePaths } from "../../src/config/paths";
import { ConfigSchema } from "../../src/config/schema";
import { runCheck } from "../../src/doctor/check";
import { makeContext } from "../../src/doctor/context";
import { pgDockerCheck, pgHbaCheck, postgresCheck } from "../../src/doctor/postgres";
import { s3Check } from "../../src/doctor/remote";
import { startDaemon } from "../../src/daemon/serve";
import { makeCa, makeLeaf } from "../certs/fixtures";
import { runCliWith } from "../support/cli";
import { startNginx, type TestNginx } from "../support/nginx";
import { startPebble, type TestPebble } from "../support/pebble";
import { freePort } from "../support/ports";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { startS3, type TestS3 } from "../support/s3";
import { makeTempDir, removeTempDir } from "../support/tmp";

const SLOW = 120_000;
const STANDIN_IMAGE = "odooops-test/odoo:17.0";

let pg: TestPostgres;
let nginx: TestNginx;
let s3: TestS3;
let pebble: TestPebble;
let daemon: Awaited<ReturnType<typeof startDaemon>> | null = null;
let scratch: string;
let root: string;

interface Report {
  ok: boolean;
  counts: Record<string, number>;
  checks: { id: string; status: string; message: string; hint?: string }[];
}

beforeAll(async () => {
  [pg, nginx, s3] = await Promise.all([startPostgres(), startNginx(), startS3()]);
  pebble = await startPebble({ httpPort: nginx.port });
  scratch = makeTempDir("odooops-doctor-it-");
  // The nginx harness's dir is the root: its main config includes <root>/nginx/sites/*.conf.
  root = nginx.dir;
  const caFile = join(scratch, "pebble-ca.pem");
  writeFileSync(caFile, pebble.listenerCaPem);
  const target = await s3.target("doctor-it");
  const config = {
    listen: `127.0.0.1:${await freePort()}`,
    odoo: { image: STANDIN_IMAGE },
    postgres: { host: pg.host, port: pg.port, user: pg.user, password: pg.password, hbaFile: pg.hbaFile },
    nginx: { binary: nginx.binary, configFile: nginx.configFile, httpPort: nginx.port, httpsPort: await freePort() },
    acme: { directoryUrl: pebble.directoryUrl, caFile, email: "ops@example.com" },
    backups: {
      s3: {
        endpoint: target.endpoint,
        bucket: target.bucket,
        accessKeyId: target.accessKeyId,
        secretAccessKey: target.secretAccessKey,
        forcePathStyle: true,
      },
    },
  };
  mkdirSync(join(root, "etc"), { recursive: true });
  writeFileSync(join(root, "etc", "config.yaml"), stringify(config), { mode: 0o600 });
  const ca = await makeCa(scratch);
  const leaf = await makeLeaf(scratch, ca, ["shop.example.com"], 60);
  saveCertificate(resolvePaths(root).certsDir, "shop.example.com", {
    fullchainPem: leaf.certPem,
    privkeyPem: leaf.keyPem,
    source: "imported",
  });
  daemon = await startDaemon({ root, env: { ODOOOPS_ADMIN_PASSWORD: "doctor-test-pw" } });
}, 180_000);

afterAll(async () => {
  await daemon?.stop();
  await pebble?.stop();
  await s3?.destroy();
  await pg?.stop();
  await nginx?.stop();
  if (scratch) removeTempDir(scratch);
}, 60_000);

async function doctor(extra: string[] = []) {
  return runCliWith(["doctor", "--root", root, ...extra], {
    fetch: () => Promise.reject(new Error("doctor must not use the API client")),
    env: {},
  });
}

function byId(report: Report) {
  return Object.fromEntries(report.checks.map((c) => [c.id, c]));
}

describe("doctor on a complete host", () => {
  test(
    "every check passes: exit 0, only JSON on stdout",
    async () => {
      const r = await doctor(["--json"]);
      const report = JSON.parse(r.stdout) as Report;
      const notPassing = report.checks.filter((c) => c.status !== "pass");
      expect(notPassing).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.counts).toEqual({ pass: report.checks.length, warn: 0, fail: 0, skip: 0 });
      expect(r.code).toBe(0);
      const c = byId(report);
      expect(c.daemon.message).toContain(daemon!.url);
      expect(c.postgres.message).toContain(`PostgreSQL 15`);
      expect(c["port-http"].message).toContain("served by odooops' nginx");
      expect(c.acme.message).toContain(pebble.directoryUrl);
      expect(c.s3.message).toContain("s3://doctor-it/");
      expect(c.certs.message).toContain("shop.example.com");
      expect(c.image.message).toContain(STANDIN_IMAGE);
    },
    SLOW,
  );

  test(
    "the human report lists every check and the totals",
    async () => {
      const r = await doctor();
      expect(r.code).toBe(0);
      for (const id of [
        "config",
        "state",
        "daemon",
        "docker",
        "image",
        "docker-limits",
        "host-fit",
        "postgres",
        "pg-hba",
        "pg-tenant",
        "pg-docker",
        "pg-container",
        "pg-clients",
        "nginx",
        "port-http",
        "port-https",
        "disk",
        "acme",
        "clock",
        "s3",
        "certs",
      ]) {
        expect(r.stdout).toMatch(new RegExp(`^✓ ${id} `, "m"));
      }
      expect(r.stdout.trim().split("\n").at(-1)).toBe("21 passed, 0 warnings, 0 failed");
    },
    SLOW,
  );

  test(
    "PostgreSQL misconfigured: wrong password, wrong pg_hba.conf, an address it does not listen on; a wrong bucket",
    async () => {
      const paths = resolvePaths(root);
      const base = {
        postgres: { host: pg.host, port: pg.port, user: pg.user, password: pg.password, hbaFile: pg.hbaFile },
      };
      const ctx = (over: Record<string, unknown>) =>
        makeContext({ paths, config: ConfigSchema.parse({ ...base, ...over }) });
      const wrongPw = await runCheck(
        postgresCheck,
        ctx({ postgres: { ...base.postgres, password: "wrong-password" } }),
      );
      expect(wrongPw.status).toBe("fail");
      expect(wrongPw.hint).toContain("postgres.password");
      const otherHba = join(scratch, "pg_hba.conf");
      writeFileSync(otherHba, "local all all trust\n");
      const hba = await runCheck(pgHbaCheck, ctx({ postgres: { ...base.postgres, hbaFile: otherHba } }));
      expect(hba.status).toBe("fail");
      expect(hba.message).toBe(`postgres.hbaFile is ${otherHba} but the server reads ${pg.hbaFile}`);
      expect(hba.hint).toBe(`set postgres.hbaFile: ${pg.hbaFile}`);
      const far = await runCheck(pgDockerCheck, ctx({ postgres: { ...base.postgres, containerHost: "10.255.255.1" } }));
      expect(far.status).toBe("fail");
      expect(far.hint).toContain(",10.255.255.1' in postgresql.conf");
      const bucket = await runCheck(
        s3Check,
        ctx({ backups: { s3: { ...s3.targetNoCreate("no-such-doctor-bucket"), prefix: "" } } }),
      );
      expect(bucket.status).toBe("fail");
      expect(bucket.message).toContain("s3://no-such-doctor-bucket/");
      expect(bucket.message).toContain("put failed");
    },
    SLOW,
  );

  test(
    "PostgreSQL stopped: its check fails with the fix, the checks that need it skip, exit 1",
    async () => {
      await pg.stop();
      const r = await doctor(["--json"]);
      expect(r.code).toBe(1);
      const report = JSON.parse(r.stdout) as Report;
      expect(report.ok).toBe(false);
      const c = byId(report);
      expect(c.postgres.status).toBe("fail");
      expect(c.postgres.message).toContain(`cannot connect to 127.0.0.1:${pg.port} as postgres`);
      // No cluster of this host serves that port: the hint names the port, not a command for another server.
      expect(c.postgres.hint).toBe(
        `start the PostgreSQL server that should listen on port ${pg.port}, then check postgres.host and postgres.port in the config`,
      );
      expect(c["pg-hba"].status).toBe("skip");
      expect(c["pg-tenant"].status).toBe("skip");
      expect(c["pg-docker"].status).toBe("skip");
      expect(c["pg-container"].status).toBe("skip");
      const others = report.checks.filter(
        (x) => !["postgres", "pg-hba", "pg-tenant", "pg-docker", "pg-container"].includes(x.id),
      );
      expect(others.filter((x) => x.status !== "pass")).toEqual([]);
      // No error document after the report: stdout is one JSON value.
      expect(r.stdout.trim().startsWith("{")).toBe(true);
      const human = await doctor();
      expect(human.code).toBe(1);
      expect(human.stdout).toMatch(/^✗ postgres /m);
      expect(human.stdout).toContain("fix: start the PostgreSQL server that should listen on port");
    },
    SLOW,
  );
});
