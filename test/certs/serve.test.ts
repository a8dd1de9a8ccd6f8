/**
 * A bring-your-own certificate served by a real nginx: import, HTTPS vhost, reload, and the
 * served-certificate check (trusted chain, SNI name coverage, nothing listening).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { connect, type ConnectionOptions } from "node:tls";
import {
  assertServedCertificate,
  importCertificate,
  serveCertificate,
  ServedCertificateMismatch,
  verifyServedCertificate,
} from "../../src/certs";
import { Unavailable } from "../../src/errors";
import type { NginxHost, VhostSpec } from "../../src/host/nginx";
import { startNginx, type TestNginx } from "../support/nginx";
import { freePort } from "../support/ports";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";
import { makeCa, makeLeaf, type TestCa } from "./fixtures";

const SLOW = 120_000;
const domain = `byo-${randomSuffix()}.example.test`;
let ng: TestNginx | undefined;
let dir = "";
let ca: TestCa;
let httpsPort = 0;

beforeAll(async () => {
  ng = await startNginx();
  dir = makeTempDir("odooops-serve-");
  ca = await makeCa(dir);
  httpsPort = await freePort();
}, SLOW);

afterAll(async () => {
  await ng?.stop();
  if (dir) removeTempDir(dir);
}, SLOW);

function handshake(opts: Pick<ConnectionOptions, "minVersion" | "maxVersion" | "ciphers">): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port: httpsPort, servername: domain, rejectUnauthorized: false, ...opts });
    s.once("secureConnect", () => {
      resolve(s.getProtocol() ?? "unknown");
      s.end();
    });
    s.once("error", () => resolve("refused"));
  });
}

describe("serving a bring-your-own certificate", () => {
  test(
    "import, switch the vhost to HTTPS, verify what nginx serves",
    async () => {
      if (!ng) throw new Error("nginx did not start");
      const leaf = await makeLeaf(dir, ca, [domain], 60);
      const cert = importCertificate(join(dir, "certs"), {
        domain,
        certPem: leaf.certPem,
        keyPem: leaf.keyPem,
        chainPem: ca.certPem,
      });
      const host: NginxHost = { binary: ng.binary, configFile: ng.configFile, sitesDir: ng.sitesDir };
      const vhost: VhostSpec = {
        slug: "byo",
        serverNames: [domain],
        listenPort: ng.port,
        httpPort: await freePort(),
        longpollPort: await freePort(),
        acmeWebroot: ng.acmeWebroot,
        logDir: ng.logDir,
        clientMaxBodySize: "16m",
      };
      const served = await serveCertificate({
        nginx: host,
        vhost,
        cert,
        hsts: false,
        httpsPort,
        ca: ca.certPem,
        requireTrusted: true,
      });
      expect(served.ok).toBe(true);
      expect(served.authorized).toBe(true);
      expect(served.info.serial).toBe(cert.info.serial);

      // Without the private CA the chain is untrusted: reported, and fatal only when required.
      const untrusted = await verifyServedCertificate({
        host: "127.0.0.1",
        port: httpsPort,
        servername: domain,
        expectSerial: cert.info.serial,
        ca: [],
      });
      expect(untrusted.authorized).toBe(false);
      expect(untrusted.ok).toBe(true);
      await expect(
        assertServedCertificate({
          host: "127.0.0.1",
          port: httpsPort,
          servername: domain,
          ca: [],
          requireTrusted: true,
        }),
      ).rejects.toBeInstanceOf(ServedCertificateMismatch);

      // Another name reaching this port gets this certificate, which does not cover it.
      const wrongName = await verifyServedCertificate({
        host: "127.0.0.1",
        port: httpsPort,
        servername: `other-${domain}`,
        ca: ca.certPem,
      });
      expect(wrongName.coversName).toBe(false);
      expect(wrongName.problems.join(" ")).toContain(`does not cover other-${domain}`);

      // TLS 1.2+ only, AEAD suites only.
      expect(await handshake({ maxVersion: "TLSv1.1", minVersion: "TLSv1" })).toBe("refused");
      expect(
        await handshake({ maxVersion: "TLSv1.2", ciphers: "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA" }),
      ).toBe("refused");
      expect(await handshake({ maxVersion: "TLSv1.2" })).toBe("TLSv1.2");
      expect(await handshake({})).toBe("TLSv1.3");
    },
    SLOW,
  );

  test(
    "nothing listening is Unavailable, not a hang",
    async () => {
      const port = await freePort();
      await expect(
        verifyServedCertificate({ host: "127.0.0.1", port, servername: domain, timeoutMs: 3_000 }),
      ).rejects.toBeInstanceOf(Unavailable);
    },
    SLOW,
  );
});
