import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import {
  certFiles,
  currentVersion,
  importCertificate,
  storedCertificates,
  loadCertificate,
  normalizeSerial,
  readCertInfo,
  removeCertificate,
  saveCertificate,
} from "../../src/certs";
import { Invalid } from "../../src/errors";
import { run } from "../../src/exec/run";
import { makeCa, makeLeaf, type TestCa, type TestLeaf } from "./fixtures";
import { makeTempDir, removeTempDir } from "../support/tmp";

const SLOW = 60_000;
let dir = "";
let ca: TestCa;
let otherCa: TestCa;
let shop: TestLeaf;
let wildcard: TestLeaf;
let stranger: TestLeaf;

beforeAll(async () => {
  dir = makeTempDir("odooops-certs-");
  ca = await makeCa(dir, "ca");
  otherCa = await makeCa(dir, "other-ca");
  shop = await makeLeaf(dir, ca, ["shop.example.test", "www.shop.example.test"], 20, "shop");
  wildcard = await makeLeaf(dir, ca, ["*.example.test"], 90, "wild");
  stranger = await makeLeaf(dir, otherCa, ["shop.example.test"], 20, "stranger");
}, SLOW);

afterAll(() => {
  if (dir) removeTempDir(dir);
}, SLOW);

function certsDir(name: string): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  return d;
}

describe("certificate info", () => {
  test(
    "serial, validity and DNS SANs of the leaf",
    () => {
      const info = readCertInfo(`${shop.certPem}${ca.certPem}`);
      const x = new X509Certificate(shop.certPem);
      expect(info.serial).toBe(normalizeSerial(x.serialNumber));
      expect(info.sans).toEqual(["shop.example.test", "www.shop.example.test"]);
      expect(info.notAfter.getTime()).toBe(new Date(x.validTo).getTime());
      expect(normalizeSerial("00:0a:Bc")).toBe("ABC");
      expect(() => readCertInfo("nothing here")).toThrow(Invalid);
    },
    SLOW,
  );
});

describe("certificate store", () => {
  test(
    "stores a version, points <domain> at it, key 0600, meta with the source",
    () => {
      const root = certsDir("store1");
      const saved = saveCertificate(root, "shop.example.test", {
        fullchainPem: `${shop.certPem}${ca.certPem}`,
        privkeyPem: shop.keyPem,
        source: "acme",
        directoryUrl: "https://acme.test/dir",
      });
      const files = certFiles(root, "shop.example.test");
      expect(lstatSync(files.dir).isSymbolicLink()).toBe(true);
      expect(statSync(files.privkey).mode & 0o777).toBe(0o600);
      expect(saved.meta).toMatchObject({
        source: "acme",
        domain: "shop.example.test",
        directoryUrl: "https://acme.test/dir",
        serial: saved.info.serial,
      });
      const loaded = loadCertificate(root, "shop.example.test");
      expect(loaded?.info.serial).toBe(saved.info.serial);
      expect(loaded?.files.fullchain).toBe(join(root, "shop.example.test", "fullchain.pem"));
      expect(loadCertificate(root, "none.example.test")).toBeNull();
    },
    SLOW,
  );

  test(
    "a new version swaps the link; only the last three versions are kept",
    async () => {
      const root = certsDir("store2");
      const serials: string[] = [];
      for (let i = 0; i < 5; i++) {
        const leaf = await makeLeaf(dir, ca, ["v.example.test"], 20, `v${i}`);
        const s = saveCertificate(
          root,
          "v.example.test",
          { fullchainPem: leaf.certPem, privkeyPem: leaf.keyPem, source: "acme" },
          new Date(Date.now() + i * 1000),
        );
        serials.push(s.info.serial);
      }
      expect(loadCertificate(root, "v.example.test")?.info.serial).toBe(serials[4]);
      expect(readdirSync(join(root, "_versions", "v.example.test"))).toHaveLength(3);
      expect(currentVersion(root, "v.example.test")).toContain(serials[4].slice(-12));
      expect(readdirSync(root).filter((n) => n.startsWith("_tmp"))).toEqual([]);
    },
    SLOW,
  );

  test(
    "lists domains only (not bookkeeping dirs); a corrupt entry is reported, not fatal; remove",
    () => {
      const root = certsDir("store3");
      saveCertificate(root, "a.example.test", {
        fullchainPem: wildcard.certPem,
        privkeyPem: wildcard.keyPem,
        source: "imported",
      });
      saveCertificate(root, "b.example.test", {
        fullchainPem: wildcard.certPem,
        privkeyPem: wildcard.keyPem,
        source: "imported",
      });
      mkdirSync(join(root, "_acme", "x"), { recursive: true });
      mkdirSync(join(root, "_locks"), { recursive: true });
      writeFileSync(certFiles(root, "b.example.test").meta, "{not json");
      const list = storedCertificates(root);
      expect(list.map((l) => l.domain)).toEqual(["a.example.test", "b.example.test"]);
      expect(list[0].cert?.meta.source).toBe("imported");
      expect(list[1].cert).toBeNull();
      expect(list[1].error).toBeTruthy();
      expect(removeCertificate(root, "a.example.test")).toBe(true);
      expect(removeCertificate(root, "a.example.test")).toBe(false);
      expect(existsSync(join(root, "_versions", "a.example.test"))).toBe(false);
      expect(storedCertificates(join(dir, "missing"))).toEqual([]);
    },
    SLOW,
  );
});

describe("bring-your-own import", () => {
  test(
    "accepts a wildcard covering the domain, with the chain in a separate file",
    () => {
      const root = certsDir("import1");
      const c = importCertificate(root, {
        domain: "shop.example.test",
        certPem: wildcard.certPem,
        keyPem: wildcard.keyPem,
        chainPem: ca.certPem,
      });
      expect(c.meta.source).toBe("imported");
      expect(c.info.sans).toEqual(["*.example.test"]);
    },
    SLOW,
  );

  test(
    "refuses what nginx or browsers would refuse, and stores nothing",
    async () => {
      const root = certsDir("import2");
      const attempt = (input: Parameters<typeof importCertificate>[1], now?: Date) => {
        try {
          importCertificate(root, input, now);
        } catch (e) {
          expect(e).toBeInstanceOf(Invalid);
          return (e as Error).message;
        }
        throw new Error("import was accepted");
      };
      const domain = "shop.example.test";
      expect(attempt({ domain, certPem: shop.certPem, keyPem: stranger.keyPem })).toContain(
        "does not belong to the certificate",
      );
      expect(attempt({ domain: "other.example.test", certPem: shop.certPem, keyPem: shop.keyPem })).toContain(
        "does not cover other.example.test",
      );
      expect(attempt({ domain: "a.b.example.test", certPem: wildcard.certPem, keyPem: wildcard.keyPem })).toContain(
        "does not cover",
      );
      expect(
        attempt({ domain, certPem: shop.certPem, keyPem: shop.keyPem }, new Date(Date.now() + 400 * 86_400_000)),
      ).toContain("expired");
      expect(attempt({ domain, certPem: shop.certPem, keyPem: shop.keyPem, chainPem: otherCa.certPem })).toContain(
        "is not issued by",
      );
      expect(attempt({ domain, certPem: "garbage", keyPem: shop.keyPem })).toContain("no certificate");
      expect(attempt({ domain, certPem: shop.certPem, keyPem: "" })).toContain("private key is empty");
      expect(attempt({ domain: "../etc", certPem: shop.certPem, keyPem: shop.keyPem })).toContain("not a valid domain");
      const encFile = join(dir, "enc.key");
      await run({
        argv: ["openssl", "pkey", "-in", "/dev/stdin", "-aes256", "-passout", "pass:secret", "-out", encFile],
        stdin: shop.keyPem,
      });
      const enc = await Bun.file(encFile).text();
      expect(attempt({ domain, certPem: shop.certPem, keyPem: enc })).toContain("passphrase-protected");
      expect(readdirSync(root)).toEqual([]);
    },
    SLOW,
  );
});
