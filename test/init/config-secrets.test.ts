/**
 * Encrypted config values (`enc:v1:…`, written by init): the loader decrypts them with the key
 * file, from the file and from env overrides, and says clearly when it cannot.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { SecretBox } from "../../src/auth/secretbox";
import { decryptConfigValues, ENCRYPTED_PREFIX, isEncryptedValue, loadConfig } from "../../src/config/load";
import { type Paths, resolvePaths } from "../../src/config/paths";
import { Invalid } from "../../src/errors";
import { Secrets } from "../../src/log";
import { makeTempDir, removeTempDir } from "../support/tmp";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) removeTempDir(d);
});

function host(): { paths: Paths; box: SecretBox } {
  const root = makeTempDir("odooops-cfg-secrets-");
  dirs.push(root);
  const paths = resolvePaths(root);
  mkdirSync(paths.configDir, { recursive: true });
  return { paths, box: SecretBox.fromFile(paths.secretKeyFile) };
}

const sealed = (box: SecretBox, v: string) => `${ENCRYPTED_PREFIX}${box.seal(v)}`;

describe("encrypted config values", () => {
  test("secrets in the file are decrypted at load; plain values stay as they are", () => {
    const { paths, box } = host();
    writeFileSync(
      paths.configYaml,
      [
        "postgres:",
        `  password: ${sealed(box, "pg-secret-1")}`,
        "  user: odooops",
        "backups:",
        "  s3:",
        "    bucket: bkt",
        "    accessKeyId: AKID",
        `    secretAccessKey: ${sealed(box, "s3-secret-2")}`,
        "",
      ].join("\n"),
    );
    const c = loadConfig(paths, { env: {} });
    expect(c.postgres.password).toBe("pg-secret-1");
    expect(c.postgres.user).toBe("odooops");
    expect(c.backups.s3?.secretAccessKey).toBe("s3-secret-2");
    // Decrypted secrets are masked in logs from then on.
    expect(Secrets.redact("connecting with pg-secret-1")).toBe("connecting with ***");
  });

  test("an env override may carry an encrypted value too", () => {
    const { paths, box } = host();
    const c = loadConfig(paths, { env: { ODOOOPS_POSTGRES_PASSWORD: sealed(box, "from-env") } });
    expect(c.postgres.password).toBe("from-env");
  });

  test("a config without encrypted values needs no key file", () => {
    const { paths } = host();
    rmSync(paths.secretKeyFile);
    writeFileSync(paths.configYaml, "postgres:\n  password: plain\n");
    expect(loadConfig(paths, { env: {} }).postgres.password).toBe("plain");
  });

  test("missing key file, another host's key, a damaged value: errors name the file, key and fix", () => {
    const { paths, box } = host();
    writeFileSync(paths.configYaml, `postgres:\n  password: ${sealed(box, "pg-secret")}\n`);
    rmSync(paths.secretKeyFile);
    expect(() => loadConfig(paths, { env: {} })).toThrow(
      `${paths.configYaml}: postgres.password is encrypted but the key file ${paths.secretKeyFile} does not exist`,
    );
    SecretBox.fromFile(paths.secretKeyFile); // a new, different key
    let msg = "";
    try {
      loadConfig(paths, { env: {} });
    } catch (e) {
      expect(e).toBeInstanceOf(Invalid);
      msg = (e as Error).message;
    }
    expect(msg).toContain(`${paths.configYaml}: postgres.password: cannot decrypt with ${paths.secretKeyFile}`);
    expect(msg).toContain("odooops init");
    writeFileSync(paths.configYaml, "postgres:\n  password: enc:v1:AAAA:BBBB:CCCC\n");
    expect(() => loadConfig(paths, { env: {} })).toThrow("cannot decrypt");
  });

  test("an unreadable key file says to run as root", () => {
    const { paths, box } = host();
    const data = { postgres: { password: sealed(box, "x") } };
    // Tests run as root, who reads any file: a directory in its place fails the read the same way.
    rmSync(paths.secretKeyFile);
    mkdirSync(paths.secretKeyFile);
    expect(() => decryptConfigValues(data, paths.secretKeyFile, "config.yaml")).toThrow(
      `config.yaml: postgres.password is encrypted and the key file ${paths.secretKeyFile} cannot be read (EISDIR): run as root`,
    );
  });

  test("values inside arrays are decrypted; the prefix check is exact", () => {
    const { paths, box } = host();
    expect(decryptConfigValues({ a: [sealed(box, "one"), "enc", "plain"] }, paths.secretKeyFile, "x")).toEqual({
      a: ["one", "enc", "plain"],
    });
    expect(isEncryptedValue("enc:v1:abc")).toBe(true);
    expect(isEncryptedValue("encrypted")).toBe(false);
    expect(isEncryptedValue(42)).toBe(false);
  });
});
