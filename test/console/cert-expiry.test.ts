/**
 * The overview's certificate column from an index of the certificate links: real certificates
 * (openssl) saved by the real store; a version's recorded expiry is read once, a renewal is seen
 * at once, and anything unreadable or absent shows as no certificate.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { saveCertificate } from "../../src/certs/store";
import { CertExpiry } from "../../src/console/cert-expiry";
import { makeCa, makeLeaf, type TestCa } from "../certs/fixtures";
import { makeTempDir, removeTempDir } from "../support/tmp";

let dir = "";
let ca: TestCa;
const certsDir = () => join(dir, "certs");

async function issue(domain: string, days: number, name: string) {
  const leaf = await makeLeaf(dir, ca, [domain], days, name);
  return saveCertificate(certsDir(), domain, {
    fullchainPem: `${leaf.certPem}${ca.certPem}`,
    privkeyPem: leaf.keyPem,
    source: "acme",
  });
}

beforeAll(async () => {
  dir = makeTempDir("odooops-cert-expiry-");
  ca = await makeCa(dir);
});
afterAll(() => removeTempDir(dir));

describe("certificate days left for the overview", () => {
  test("read once per version from what the store recorded; a renewal moves the link and is seen at once", async () => {
    const saved = await issue("shop.example.test", 20, "first");
    const index = new CertExpiry(certsDir());
    const now = new Date();
    expect(index.daysLeft("shop.example.test", now)).toBe(19);
    // The expiry comes from the version's meta.json, never from parsing the PEM (the first X509
    // parse of a process stays resident): a PEM broken behind its back does not change it...
    writeFileSync(saved.files.fullchain, "not a certificate");
    expect(new CertExpiry(certsDir()).daysLeft("shop.example.test", now)).toBe(19);
    // ...the same version is not read again: a meta.json broken later keeps the cached answer,
    // and a fresh index shows no certificate for it.
    writeFileSync(saved.files.meta, "{");
    expect(index.daysLeft("shop.example.test", now)).toBe(19);
    expect(new CertExpiry(certsDir()).daysLeft("shop.example.test", now)).toBeNull();
    await issue("shop.example.test", 60, "renewed");
    const later = new Date();
    expect(index.daysLeft("shop.example.test", later)).toBe(59);
    // Days are counted from the time asked about, not from when the certificate was first read.
    expect(index.daysLeft("shop.example.test", new Date(later.getTime() + 10 * 86_400_000))).toBe(49);
  });

  test("no certificate, or a name that is no domain: null, nothing thrown", () => {
    const index = new CertExpiry(certsDir());
    expect(index.daysLeft("none.example.test", new Date())).toBeNull();
    expect(index.daysLeft("../etc", new Date())).toBeNull();
    expect(new CertExpiry(join(dir, "missing")).daysLeft("shop.example.test", new Date())).toBeNull();
  });
});
