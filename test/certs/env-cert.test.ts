/** The `acme` config block and the TLS part of an env's vhost (no services: store and rendering only). */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolvePaths } from "../../src/config/paths";
import { ConfigSchema } from "../../src/config/schema";
import { acmeDeps, envTls, hstsFor, tlsByDefault } from "../../src/certs/env-cert";
import { envVhost } from "../../src/env/host";
import { AcmeSettingsSchema, LETSENCRYPT_PRODUCTION, LETSENCRYPT_STAGING } from "../../src/host/acme";
import { Invalid } from "../../src/errors";
import { makeTempDir, removeTempDir } from "../support/tmp";
import { storeCert } from "./env-fixtures";
import { makeCa } from "./fixtures";

describe("acme config", () => {
  test("off without a block; a block turns it on with Let's Encrypt, production and staging, 30 days", () => {
    expect(ConfigSchema.parse({}).acme.enabled).toBe(false);
    const on = ConfigSchema.parse({ acme: { email: "ops@example.com" } }).acme;
    expect(on).toMatchObject({
      enabled: true,
      email: "ops@example.com",
      directoryUrl: LETSENCRYPT_PRODUCTION,
      tiers: ["production", "staging"],
      renewDays: 30,
    });
    expect(ConfigSchema.parse({ acme: { enabled: false, email: "ops@example.com" } }).acme.enabled).toBe(false);
  });

  test("directory aliases and custom URLs; anything else is refused with the key named", () => {
    expect(ConfigSchema.parse({ acme: { directoryUrl: "letsencrypt-staging" } }).acme.directoryUrl).toBe(
      LETSENCRYPT_STAGING,
    );
    expect(ConfigSchema.parse({ acme: { directoryUrl: "letsencrypt" } }).acme.directoryUrl).toBe(
      LETSENCRYPT_PRODUCTION,
    );
    expect(ConfigSchema.parse({ acme: { directoryUrl: "https://ca.internal:14000/dir" } }).acme.directoryUrl).toBe(
      "https://ca.internal:14000/dir",
    );
    for (const acme of [
      { directoryUrl: "staging" },
      { directoryUrl: "ftp://ca/dir" },
      { renewDays: 0 },
      { tiers: ["gold"] },
      { email: "not-an-email" },
      { unknown: 1 },
    ]) {
      const r = ConfigSchema.safeParse({ acme });
      expect(r.success).toBe(false);
      expect(r.error?.issues[0].path[0]).toBe("acme");
    }
  });

  test("which tiers get TLS by default, HSTS for production only, and settings the ACME core accepts", () => {
    const config = ConfigSchema.parse({ acme: { tiers: ["production", "dev"], renewDays: 20, preflight: "off" } });
    expect(tlsByDefault(config, "dev")).toBe(true);
    expect(tlsByDefault(config, "staging")).toBe(false);
    expect(tlsByDefault(ConfigSchema.parse({}), "production")).toBe(false);
    expect(hstsFor("production")).toBe(true);
    expect(hstsFor("staging")).toBe(false);
    const deps = acmeDeps({ config, paths: resolvePaths("/tmp/x") });
    expect(AcmeSettingsSchema.parse(deps.settings)).toMatchObject({
      directoryUrl: LETSENCRYPT_PRODUCTION,
      renewDays: 20,
      preflight: "off",
    });
    expect(deps.paths).toEqual({ certsDir: "/tmp/x/certs", acmeWebroot: "/tmp/x/acme-webroot" });
    expect(() => acmeDeps({ config: ConfigSchema.parse({}), paths: resolvePaths("/tmp/x") })).toThrow(Invalid);
  });
});

describe("the env's vhost", () => {
  let dir = "";
  beforeAll(() => {
    dir = makeTempDir("odooops-envcert-");
  });
  afterAll(() => removeTempDir(dir));

  test("is HTTP until the domain has a certificate, then HTTPS on nginx.httpsPort with HSTS by tier", async () => {
    const paths = resolvePaths(dir);
    const config = ConfigSchema.parse({ nginx: { httpsPort: 8443 } });
    const deps = { config, paths };
    const ports = { http: 20001, longpoll: 20002 };
    const prod = { slug: "shop", domain: "shop.example.test", tier: "production" as const, workers: 5 };
    const plain = envVhost(deps, prod, ports);
    expect(plain).not.toContain("ssl");
    expect(envTls(deps, prod)).toBeUndefined();

    const cert = await storeCert(dir, paths.certsDir, await makeCa(dir), prod.domain, 40, "acme");
    const tls = envVhost(deps, prod, ports);
    expect(tls).toContain("listen 8443 ssl http2;");
    expect(tls).toContain(`ssl_certificate ${cert.files.fullchain};`);
    expect(tls).toContain(`ssl_certificate_key ${cert.files.privkey};`);
    expect(tls).toContain("return 301 https://$host$request_uri;");
    expect(tls).toContain("Strict-Transport-Security");
    expect(envVhost(deps, { ...prod, tier: "staging" }, ports)).not.toContain("Strict-Transport-Security");
    expect(envTls(deps, { domain: "Not_A_Domain", tier: "production" })).toBeUndefined();
  });
});
