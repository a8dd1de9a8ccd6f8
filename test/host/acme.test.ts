/**
 * Issuance against a real CA (pebble) with real HTTP-01 validation: pebble's VA resolves the test
 * domains through pebble-challtestsrv to 127.0.0.1 and fetches the challenge from the test nginx,
 * which serves it from the ACME webroot through the env's vhost.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import acme from "acme-client";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  certFiles,
  loadCertificate,
  serveCertificate,
  ServedCertificateMismatch,
  assertServedCertificate,
  verifyServedCertificate,
} from "../../src/certs";
import { Conflict, Invalid, Unavailable } from "../../src/errors";
import {
  AcmeChallengeFailed,
  AcmeFailed,
  AcmeRateLimited,
  challengeDir,
  fromProblem,
  lockFile,
  preflightHttp01,
  toAcmeError,
} from "../../src/host/acme";
import { issueCertificate, type AcmeDeps } from "../../src/certs/acme-order";
import { reload, renderVhost, writeVhost, type NginxHost, type VhostSpec } from "../../src/host/nginx";
import { spawnStreaming } from "../../src/exec/run";
import { startNginx, type TestNginx } from "../support/nginx";
import { startPebble, type TestPebble } from "../support/pebble";
import { freePort } from "../support/ports";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";

const SLOW = 120_000;
const suffix = randomSuffix();
const domain = `shop-${suffix}.odooops.test`;
const slug = `shop-${suffix}`;

let ng: TestNginx | undefined;
let pebble: TestPebble | undefined;
let root = "";
let deps: AcmeDeps;
let settings: Record<string, unknown>;
let host: NginxHost;
let vhost: VhostSpec;
let httpsPort = 0;
let issuerRoot = "";

function fresh<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`${what} did not start`);
  return v;
}

beforeAll(async () => {
  ng = await startNginx();
  pebble = await startPebble({ httpPort: ng.port });
  root = makeTempDir("odooops-acme-");
  const caFile = join(root, "pebble-listener-ca.pem");
  writeFileSync(caFile, pebble.listenerCaPem);
  // preflight off: it resolves through the system DNS, which does not know the test domains.
  settings = { directoryUrl: pebble.directoryUrl, email: "ops@example.com", caFile, preflight: "off" };
  deps = { paths: { certsDir: join(root, "certs"), acmeWebroot: ng.acmeWebroot }, settings };
  host = { binary: ng.binary, configFile: ng.configFile, sitesDir: ng.sitesDir };
  httpsPort = await freePort();
  vhost = {
    slug,
    serverNames: [domain],
    listenPort: ng.port,
    httpPort: await freePort(),
    longpollPort: await freePort(),
    acmeWebroot: ng.acmeWebroot,
    logDir: ng.logDir,
    clientMaxBodySize: "16m",
  };
  await writeVhost(host, slug, renderVhost(vhost));
  await reload(host);
  await pebble.addHost(domain);
  issuerRoot = await pebble.issuerRootPem();
}, SLOW);

afterAll(async () => {
  await pebble?.stop();
  await ng?.stop();
  if (root) removeTempDir(root);
}, SLOW);

function challengeFilesLeft(): string[] {
  const dir = challengeDir(fresh(ng, "nginx").acmeWebroot);
  return existsSync(dir) ? readdirSync(dir) : [];
}

async function servedSerial(): Promise<string> {
  return (await verifyServedCertificate({ host: "127.0.0.1", port: httpsPort, servername: domain, ca: issuerRoot }))
    .info.serial;
}

describe("ACME issuance against pebble + nginx", () => {
  let firstSerial = "";

  test(
    "issues over HTTP-01 served by nginx, switches the vhost to HTTPS and verifies the served cert",
    async () => {
      const lines: string[] = [];
      const r = await issueCertificate(deps, { domain, onProgress: (l) => lines.push(l) });
      expect(r.issued).toBe(true);
      expect(r.joined).toBe(false);
      expect(lines.some((l) => l.includes("validated"))).toBe(true);
      const files = certFiles(deps.paths.certsDir, domain);
      expect(statSync(files.privkey).mode & 0o777).toBe(0o600);
      expect(r.cert.meta.source).toBe("acme");
      expect(r.cert.info.sans).toEqual([domain]);
      expect(challengeFilesLeft()).toEqual([]);
      expect(existsSync(lockFile(deps.paths.certsDir, domain))).toBe(false);
      firstSerial = r.cert.info.serial;

      const served = await serveCertificate({
        nginx: host,
        vhost,
        cert: r.cert,
        hsts: true,
        httpsPort,
        ca: issuerRoot,
        requireTrusted: true,
      });
      expect(served.ok).toBe(true);
      expect(served.authorized).toBe(true);
      expect(served.info.serial).toBe(firstSerial);

      // Plain HTTP now redirects, except the ACME webroot.
      const redirect = await fetch(`http://127.0.0.1:${fresh(ng, "nginx").port}/web/login`, {
        headers: { host: domain },
        redirect: "manual",
      });
      expect(redirect.status).toBe(301);
      expect(redirect.headers.get("location")).toBe(`https://${domain}/web/login`);
    },
    SLOW,
  );

  test(
    "a second request while the certificate is valid orders nothing",
    async () => {
      const lines: string[] = [];
      const r = await issueCertificate(deps, { domain, onProgress: (l) => lines.push(l) });
      expect(r.issued).toBe(false);
      expect(r.cert.info.serial).toBe(firstSerial);
      expect(lines.some((l) => l.includes("order placed"))).toBe(false);
    },
    SLOW,
  );

  test(
    "forced renewal: concurrent requests share one order; the old cert is detected until nginx reloads",
    async () => {
      const lines: string[] = [];
      const onProgress = (l: string) => lines.push(l);
      const [a, b] = await Promise.all([
        issueCertificate(deps, { domain, force: true, onProgress }),
        issueCertificate(deps, { domain, force: true, onProgress }),
      ]);
      expect(lines.filter((l) => l.includes("order placed"))).toHaveLength(1);
      expect([a.joined, b.joined].sort()).toEqual([false, true]);
      expect(a.cert.info.serial).toBe(b.cert.info.serial);
      const renewed = a.cert.info.serial;
      expect(renewed).not.toBe(firstSerial);
      expect(loadCertificate(deps.paths.certsDir, domain)?.info.serial).toBe(renewed);

      // Files swapped, nginx not reloaded: it still serves the first certificate.
      const stale = await verifyServedCertificate({
        host: "127.0.0.1",
        port: httpsPort,
        servername: domain,
        expectSerial: renewed,
        ca: issuerRoot,
      });
      expect(stale.ok).toBe(false);
      expect(stale.serialMatches).toBe(false);
      expect(stale.info.serial).toBe(firstSerial);
      expect(stale.problems[0]).toContain("was not reloaded");
      await expect(
        assertServedCertificate({
          host: "127.0.0.1",
          port: httpsPort,
          servername: domain,
          expectSerial: renewed,
          ca: issuerRoot,
        }),
      ).rejects.toBeInstanceOf(ServedCertificateMismatch);

      const served = await serveCertificate({
        nginx: host,
        vhost,
        cert: a.cert,
        hsts: true,
        httpsPort,
        ca: issuerRoot,
        requireTrusted: true,
      });
      expect(served.info.serial).toBe(renewed);
      expect(await servedSerial()).toBe(renewed);
    },
    SLOW,
  );

  test(
    "an order held by another live process is refused; a dead holder's lock is taken over",
    async () => {
      const file = lockFile(deps.paths.certsDir, domain);
      writeFileSync(file, JSON.stringify({ pid: 1, token: "other", startedAt: new Date().toISOString() }));
      try {
        const err = await issueCertificate(deps, { domain, force: true }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(Conflict);
        expect((err as Error).message).toContain("already in progress");
        expect(existsSync(file)).toBe(true);
      } finally {
        rmSync(file, { force: true });
      }
      const gone = spawnStreaming({ argv: ["true"] });
      await gone.done();
      writeFileSync(
        file,
        JSON.stringify({ pid: gone.proc.pid, token: "crashed", startedAt: new Date().toISOString() }),
      );
      const r = await issueCertificate(deps, { domain, force: true });
      expect(r.issued).toBe(true);
      expect(existsSync(file)).toBe(false);
    },
    SLOW,
  );

  test(
    "a domain whose DNS points nowhere fails clearly and leaves no files",
    async () => {
      const nowhere = `nodns-${suffix}.odooops.test`;
      const err = await issueCertificate(deps, { domain: nowhere }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AcmeChallengeFailed);
      expect((err as Error).message).toMatch(
        new RegExp(`^DNS for ${nowhere.replace(/\./g, "\\.")} does not point at an address`),
      );
      expect(existsSync(certFiles(deps.paths.certsDir, nowhere).dir)).toBe(false);
      expect(existsSync(join(deps.paths.certsDir, "_versions", nowhere))).toBe(false);
      expect(existsSync(lockFile(deps.paths.certsDir, nowhere))).toBe(false);
      expect(challengeFilesLeft()).toEqual([]);
    },
    SLOW,
  );

  test(
    "a domain that resolves here but has no vhost fails clearly and leaves no files",
    async () => {
      const other = `novhost-${suffix}.odooops.test`;
      await fresh(pebble, "pebble").addHost(other);
      const err = await issueCertificate(deps, { domain: other }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AcmeChallengeFailed);
      expect((err as Error).message).toContain(other);
      expect((err as Error).message).toMatch(/port 80 is open|another server/);
      expect(existsSync(certFiles(deps.paths.certsDir, other).dir)).toBe(false);
      expect(challengeFilesLeft()).toEqual([]);
    },
    SLOW,
  );

  test(
    "a failed renewal keeps the current certificate",
    async () => {
      const before = loadCertificate(deps.paths.certsDir, domain)?.info.serial;
      await fresh(pebble, "pebble").removeHost(domain);
      try {
        const err = await issueCertificate(deps, { domain, force: true }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(AcmeChallengeFailed);
        expect(loadCertificate(deps.paths.certsDir, domain)?.info.serial).toBe(before);
      } finally {
        await fresh(pebble, "pebble").addHost(domain);
      }
    },
    SLOW,
  );

  test(
    "invalid names are refused before any order",
    async () => {
      for (const bad of ["Shop.example.com", "*.example.com", "localhost", "a/../b.example.com", "x_y.example.com"]) {
        await expect(issueCertificate(deps, { domain: bad })).rejects.toBeInstanceOf(Invalid);
      }
    },
    SLOW,
  );

  test(
    "an untrusted CA certificate is reported as such, without retry stalls",
    async () => {
      // Checked, not timed (a loaded machine is slow anyway): the directory check names the untrusted
      // certificate before acme-client, whose transport retries and sleeps, sends a single request.
      let requests = 0;
      const counter = acme.axios.interceptors.request.use((config) => {
        requests++;
        return config;
      });
      const untrusted = { ...deps, settings: { ...settings, caFile: undefined } };
      const err = await issueCertificate(untrusted, { domain, force: true })
        .catch((e: unknown) => e)
        .finally(() => acme.axios.interceptors.request.eject(counter));
      expect(err).toBeInstanceOf(Unavailable);
      expect((err as Error).message).toContain("not trusted");
      expect(requests).toBe(0);
    },
    SLOW,
  );

  test(
    "preflight fetches the challenge through nginx and names what is wrong",
    async () => {
      const n = fresh(ng, "nginx");
      const token = `preflight${randomSuffix(16)}`;
      const dir = challengeDir(n.acmeWebroot);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, token), "expected-key-authorization", { mode: 0o644 });
      try {
        const base = { token, port: n.port, connectHost: "127.0.0.1" };
        await preflightHttp01({ ...base, domain, keyAuthorization: "expected-key-authorization" });
        const wrong = await preflightHttp01({ ...base, domain, keyAuthorization: "something-else" }).catch(
          (e: unknown) => e,
        );
        expect(wrong).toBeInstanceOf(AcmeChallengeFailed);
        expect((wrong as Error).message).toContain("another server");
        const unknown = await preflightHttp01({
          ...base,
          domain: `elsewhere-${suffix}.odooops.test`,
          keyAuthorization: "expected-key-authorization",
        }).catch((e: unknown) => e);
        expect(unknown).toBeInstanceOf(AcmeChallengeFailed);
      } finally {
        rmSync(join(dir, token), { force: true });
      }
    },
    SLOW,
  );
});

describe("ACME error mapping (pebble has no rate limits, so these are fed the CA's words)", () => {
  const ctx = { domain: "shop.example.com", directoryUrl: "https://acme.test/dir" };
  const limit =
    "too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2026-12-01 00:00:00 UTC";

  test("rate limits, from the problem type or from the wording alone", () => {
    const typed = toAcmeError(new Error(limit), {
      ...ctx,
      problem: { type: "urn:ietf:params:acme:error:rateLimited", detail: limit, status: 429, retryAfter: "3600" },
    });
    expect(typed).toBeInstanceOf(AcmeRateLimited);
    expect(typed.message).toContain("rate-limiting requests for shop.example.com");
    expect(typed.message).toContain("retry after 3600");
    expect(typed.status).toBe(429);
    expect(toAcmeError(new Error(`Error creating new order :: ${limit}`), ctx)).toBeInstanceOf(AcmeRateLimited);
  }, 5_000);

  test("validation failures say what to fix", () => {
    const dns = fromProblem("shop.example.com", {
      type: "urn:ietf:params:acme:error:dns",
      detail: "DNS problem: NXDOMAIN looking up A for shop.example.com",
    });
    expect(dns.message).toStartWith("DNS for shop.example.com does not point at an address");
    const refused = fromProblem("shop.example.com", {
      type: "urn:ietf:params:acme:error:connection",
      detail: "203.0.113.7: Fetching http://shop.example.com/.well-known/acme-challenge/x: Connection refused",
    });
    expect(refused.message).toContain("port 80 is open");
    const other = fromProblem("shop.example.com", {
      type: "urn:ietf:params:acme:error:unauthorized",
      detail: "Invalid response from http://shop.example.com/.well-known/acme-challenge/x: 404",
    });
    expect(other.message).toContain("points at another server");
    expect(
      fromProblem("shop.example.com", {
        type: "urn:ietf:params:acme:error:caa",
        detail: "CAA record prevents issuance",
      }).message,
    ).toContain("CAA");
    expect(
      fromProblem("shop.example.com", {
        type: "urn:ietf:params:acme:error:rejectedIdentifier",
        detail: "policy forbids",
      }),
    ).toBeInstanceOf(Invalid);
  }, 5_000);

  test("a stale problem is not blamed for a different failure; transport errors mean the CA is unreachable", () => {
    const stale = toAcmeError(new Error("Unexpected item status: processing"), {
      ...ctx,
      problem: { type: "urn:ietf:params:acme:error:badNonce", detail: "JWS has an invalid anti-replay nonce" },
    });
    expect(stale).toBeInstanceOf(AcmeFailed);
    expect(stale.message).toContain("Unexpected item status");
    expect(toAcmeError(new TypeError("Cannot read properties of undefined (reading 'config')"), ctx)).toBeInstanceOf(
      Unavailable,
    );
    expect(
      toAcmeError(Object.assign(new Error("connect ECONNREFUSED 1.2.3.4:443"), { code: "ECONNREFUSED" }), ctx),
    ).toBeInstanceOf(Unavailable);
  }, 5_000);
});
