/**
 * HTTPS for environments end to end: env create with ACME configured against pebble (real
 * HTTP-01: pebble's VA resolves the env domains through challtestsrv to 127.0.0.1 and fetches
 * the challenge from the host's nginx), then renewal, import and destroy through the CLI and
 * the API, each checked by connecting to nginx and reading the certificate it serves.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { certFiles, loadCertificate, verifyServedCertificate } from "../../src/certs";
import type { CertificateView, RenewOutcome } from "../../src/certs/schema";
import { ConfigSchema } from "../../src/config/schema";
import { environments } from "../../src/env/env.sql";
import { envVhost } from "../../src/env/host";
import type { JobView } from "../../src/jobs/view";
import { runCliWith } from "../support/cli";
import { startEnvHost } from "../support/env-host";
import { startPebble, type TestPebble } from "../support/pebble";
import { freePort } from "../support/ports";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";
import { makeCa, makeLeaf } from "./fixtures";

const SLOW = 240_000;
const base = `tls-${randomSuffix()}.odooops.test`;
const small = { cpus: 1, memoryMb: 1024, workers: 0 };

let host: Awaited<ReturnType<typeof startEnvHost>> | undefined;
let pebble: TestPebble | undefined;
let dir = "";
let httpsPort = 0;
let issuerRoot = "";

function h() {
  if (!host) throw new Error("the env host did not start");
  return host;
}

const cli = (...argv: string[]) =>
  runCliWith(argv, { fetch: h().api.fetch, env: { ODOOOPS_URL: "http://odooops.test", ODOOOPS_TOKEN: h().api.token } });

beforeAll(async () => {
  host = await startEnvHost({ configOverrides: { baseDomain: base, tiers: { production: small, staging: small } } });
  pebble = await startPebble({ httpPort: host.nginx.port });
  dir = makeTempDir("odooops-envtls-");
  const caFile = join(dir, "pebble-listener-ca.pem");
  writeFileSync(caFile, pebble.listenerCaPem);
  httpsPort = await freePort();
  // startEnvHost merges overrides shallowly and pebble needs the host's nginx port first, so the
  // HTTPS port and the ACME block go on the host's config object before any env exists.
  // preflight off: it resolves through the system DNS, which does not know the test domains.
  host.config.nginx.httpsPort = httpsPort;
  host.config.acme = ConfigSchema.parse({
    acme: { directoryUrl: pebble.directoryUrl, email: "ops@example.com", caFile, preflight: "off" },
  }).acme;
  issuerRoot = await pebble.issuerRootPem();
}, SLOW);

afterAll(async () => {
  await pebble?.stop();
  await host?.stop();
  if (dir) removeTempDir(dir);
}, SLOW);

async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await h().api.request(`/api/v1${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function createEnv(
  name: string,
  tier: "production" | "staging",
): Promise<{ job: JobView; slug: string; domain: string }> {
  const res = await api<{ job: JobView; env: { slug: string } }>("POST", "/environments", { name, tier });
  expect(res.status).toBe(202);
  const job = await h().waitJob(res.body.job.id);
  return { job, slug: res.body.env.slug, domain: row(res.body.env.slug).domain };
}

function row(slug: string) {
  const r = h().deps.db.select().from(environments).where(eq(environments.slug, slug)).all().at(-1);
  if (!r) throw new Error(`no env ${slug}`);
  return r;
}

async function served(domain: string, ca: string = issuerRoot) {
  return verifyServedCertificate({ host: "127.0.0.1", port: httpsPort, servername: domain, ca });
}

/** GET over HTTPS through nginx with SNI and Host = domain. */
function httpsGet(
  domain: string,
  path: string,
  ca: string = issuerRoot,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port: httpsPort, servername: domain, ca, path, headers: { host: domain }, agent: false },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** The env's vhost file is exactly what env create / deploys render for it now. */
function expectVhostAsRendered(slug: string): string {
  const env = row(slug);
  const text = readFileSync(join(h().nginx.sitesDir, `${slug}.conf`), "utf8");
  expect(text).toBe(envVhost(h().deps, env, { http: env.httpPort ?? 0, longpoll: env.longpollPort ?? 0 }));
  return text;
}

function stored(domain: string) {
  return loadCertificate(h().deps.paths.certsDir, domain);
}

describe("environments served over HTTPS", () => {
  let shop = { slug: "", domain: "" };
  let firstSerial = "";

  test(
    "env create with ACME configured ends active, served over HTTPS with the issued certificate",
    async () => {
      await pebble?.addHost(`shop.${base}`);
      const { job, slug, domain } = await createEnv("shop", "production");
      shop = { slug, domain };
      expect(domain).toBe(`shop.${base}`);
      expect(job.status).toBe("succeeded");
      expect(job.steps.map((s) => [s.name, s.status]).at(-1)).toEqual(["tls", "done"]);
      expect(row(slug)).toMatchObject({ status: "active", statusReason: null });

      const cert = stored(domain);
      expect(cert?.meta).toMatchObject({ source: "acme", directoryUrl: pebble?.directoryUrl });
      firstSerial = cert?.info.serial ?? "";
      const s = await served(domain);
      expect(s.ok).toBe(true);
      expect(s.authorized).toBe(true);
      expect(s.info.serial).toBe(firstSerial);

      const page = await httpsGet(domain, "/web/health?db_server_status=1");
      expect(page.status).toBe(200);
      expect(page.body).toContain('"pass"');
      expect(page.headers["strict-transport-security"]).toBe("max-age=31536000");
      const plain = await h().viaNginx(domain, "/web/login");
      expect(plain.status).toBe(301);
      expect(plain.headers.get("location")).toBe(`https://${domain}/web/login`);
      expect(expectVhostAsRendered(slug)).toContain(`listen ${httpsPort} ssl http2;`);
    },
    SLOW,
  );

  test(
    "restart of an HTTPS env passes its health check (plain HTTP answers /web/health only)",
    async () => {
      const r = await api<JobView>("POST", `/environments/${shop.slug}/restart`);
      expect(r.status).toBe(202);
      expect((await h().waitJob(r.body.id)).status).toBe("succeeded");
      expect((await h().viaNginx(shop.domain, "/web/health")).status).toBe(200);
    },
    SLOW,
  );

  test(
    "certs list shows it",
    async () => {
      const r = await cli("certs", "list", "--json");
      expect(r.code).toBe(0);
      const entry = (JSON.parse(r.stdout) as CertificateView[]).find((c) => c.domain === shop.domain);
      expect(entry).toMatchObject({
        env: shop.slug,
        tier: "production",
        source: "acme",
        serial: firstSerial,
        status: "valid",
        pendingJob: null,
      });
      expect(entry?.daysLeft).toBeGreaterThan(30);
      const table = await cli("certs", "list");
      expect(table.stdout).toMatch(
        new RegExp(`${shop.domain.replace(/\./g, "\\.")}\\s+${shop.slug}\\s+acme\\s+${firstSerial}`),
      );
    },
    SLOW,
  );

  test(
    "renew without --force keeps a valid certificate; --force issues a new serial and nginx serves it",
    async () => {
      const kept = await cli("certs", "renew", shop.slug, "--json");
      expect(kept.code).toBe(0);
      expect((JSON.parse(kept.stdout) as RenewOutcome).queued).toEqual([]);

      const r = await cli("certs", "renew", shop.slug, "--force", "--wait");
      expect(r.code).toBe(0);
      expect(r.stderr).toContain("✓ Getting the certificate");
      expect(r.stderr).toContain("✓ Serving it over HTTPS");
      const renewed = stored(shop.domain)?.info.serial ?? "";
      expect(renewed).not.toBe(firstSerial);
      expect(r.stderr).toContain(`HTTPS with serial ${renewed}`);
      const s = await served(shop.domain);
      expect(s.info.serial).toBe(renewed);
      expect(s.authorized).toBe(true);
    },
    SLOW,
  );

  test(
    "a bring-your-own certificate replaces the served one and is left alone by renewals",
    async () => {
      const ca = await makeCa(dir, "byo-ca");
      const leaf = await makeLeaf(dir, ca, [shop.domain], 90, "byo-leaf");
      writeFileSync(join(dir, "byo.pem"), leaf.certPem);
      writeFileSync(join(dir, "byo.key"), leaf.keyPem);
      writeFileSync(join(dir, "byo-chain.pem"), ca.certPem);
      const r = await cli(
        "certs",
        "import",
        shop.slug,
        "--cert",
        join(dir, "byo.pem"),
        "--key",
        join(dir, "byo.key"),
        "--chain",
        join(dir, "byo-chain.pem"),
        "--wait",
      );
      expect(r.code).toBe(0);
      const cert = stored(shop.domain);
      expect(cert?.meta.source).toBe("imported");
      const s = await served(shop.domain, ca.certPem);
      expect(s.authorized).toBe(true);
      expect(s.info.serial).toBe(cert?.info.serial ?? "");
      expect((await httpsGet(shop.domain, "/web/health", ca.certPem)).status).toBe(200);
      expectVhostAsRendered(shop.slug);

      const all = await api<RenewOutcome>("POST", "/certificates/renew", { force: true });
      expect(all.body.queued.map((q) => q.env)).not.toContain(shop.slug);
      expect(all.body.skipped.find((q) => q.env === shop.slug)?.reason).toContain("imported certificate");
      expect((await served(shop.domain, ca.certPem)).info.serial).toBe(cert?.info.serial ?? "");
    },
    SLOW,
  );
});

describe("when HTTPS cannot be enabled", () => {
  let late = { slug: "", domain: "" };

  test(
    "env create still ends active, over HTTP, saying why and how to retry",
    async () => {
      // The name is not in pebble's DNS: validation fails the way it does when DNS points elsewhere.
      const { job, slug, domain } = await createEnv("late", "staging");
      late = { slug, domain };
      expect(job.status).toBe("succeeded");
      expect(job.steps.at(-1)).toMatchObject({ name: "tls", status: "done" });
      const env = row(slug);
      expect(env.status).toBe("active");
      expect(env.statusReason).toStartWith("served over HTTP: HTTPS could not be enabled for");
      expect(env.statusReason).toContain(`DNS for ${domain}`);
      expect(env.statusReason).toContain(`odooops certs renew ${slug}`);
      expect(stored(domain)).toBeNull();
      expect((await h().viaNginx(domain, "/web/health")).status).toBe(200);
      expect((await h().viaNginx(domain, "/web/login")).status).not.toBe(301);
      expect(expectVhostAsRendered(slug)).not.toContain("ssl");

      const list = JSON.parse((await cli("certs", "list", "--json")).stdout) as CertificateView[];
      expect(list.find((c) => c.env === slug)).toMatchObject({ status: "missing", detail: env.statusReason });
    },
    SLOW,
  );

  test(
    "once DNS is fixed, certs renew serves HTTPS (no HSTS on staging) and clears the reason",
    async () => {
      await pebble?.addHost(late.domain);
      const r = await api<RenewOutcome>("POST", "/certificates/renew", { env: late.slug });
      expect(r.status).toBe(202);
      expect(r.body.queued.map((q) => [q.env, q.reason])).toEqual([[late.slug, "no certificate yet"]]);
      const again = await api<RenewOutcome>("POST", "/certificates/renew", { env: late.slug });
      expect(again.body.pending.map((p) => p.job?.id)).toEqual([r.body.queued[0].job?.id]);
      const job = await h().waitJob(r.body.queued[0].job?.id ?? "");
      expect(job.status).toBe("succeeded");
      expect(row(late.slug).statusReason).toBeNull();
      expect((await served(late.domain)).info.serial).toBe(stored(late.domain)?.info.serial ?? "");
      const page = await httpsGet(late.domain, "/web/health");
      expect(page.status).toBe(200);
      expect(page.headers["strict-transport-security"]).toBeUndefined();
    },
    SLOW,
  );

  test(
    "destroy removes the vhost and every stored version of the certificate",
    async () => {
      const r = await api<JobView>("DELETE", `/environments/${late.slug}`);
      expect((await h().waitJob(r.body.id)).status).toBe("succeeded");
      const certsDir = h().deps.paths.certsDir;
      expect(existsSync(certFiles(certsDir, late.domain).dir)).toBe(false);
      expect(existsSync(join(certsDir, "_versions", late.domain))).toBe(false);
      expect(existsSync(join(h().nginx.sitesDir, `${late.slug}.conf`))).toBe(false);
    },
    SLOW,
  );
});
