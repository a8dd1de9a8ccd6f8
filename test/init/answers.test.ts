/**
 * The pieces of init that decide without a host: flags → answers, answers → config patches →
 * the edited YAML document, the flag list, secret inputs, the unit plan and the apt commands.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseDocument } from "yaml";
import { SecretBox } from "../../src/auth/secretbox";
import { loadConfig } from "../../src/config/load";
import { resolvePaths } from "../../src/config/paths";
import { ConfigSchema } from "../../src/config/schema";
import { Invalid } from "../../src/errors";
import { LETSENCRYPT_STAGING } from "../../src/host/acme";
import {
  applyFlags,
  caChoice,
  caDirectory,
  checkAnswers,
  currentAnswers,
  type FlagValues,
  normalizePrefix,
} from "../../src/init/answers";
import { editConfig, patchesFor, readConfigDocument, writeFileAtomic } from "../../src/init/config-file";
import { aptInstall, aptUpdate, missingPackages } from "../../src/init/deps";
import { flagList, INIT_FLAGS, unknownFlags } from "../../src/init/flags";
import { readSecretInput, stripNewline } from "../../src/init/secret-input";
import { systemdBooted } from "../../src/host/systemd";
import { defaultBinary, extraWritePaths, planUnit } from "../../src/init/systemd";
import { makeTempDir, removeTempDir } from "../support/tmp";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) removeTempDir(d);
});
function tempRoot() {
  const d = makeTempDir("odooops-init-unit-");
  dirs.push(d);
  return d;
}

const defaults = () => ConfigSchema.parse({});
const noSecrets = async (): Promise<string> => {
  throw new Error("no secret expected");
};

async function answersFor(flags: FlagValues, secrets: Record<string, string> = {}) {
  return applyFlags(currentAnswers(defaults(), null), flags, async (spec) => secrets[spec] ?? noSecrets());
}

describe("flags", () => {
  test("the list names every flag with its value and description", () => {
    const list = flagList();
    for (const name of Object.keys(INIT_FLAGS)) expect(list).toContain(name);
    expect(list).toContain("--base-domain DOMAIN");
    expect(list).toContain("--no-systemd");
    expect(list).toContain("--[no-]s3 ");
    expect(list).toContain("--s3-secret-key-file FILE");
  });

  test("unknown flags are reported, values and known negations are not", () => {
    expect(unknownFlags(["--yes", "--base-domain", "x.com", "--no-systemd", "--s3-bucket=b", "-y", "--json"])).toEqual(
      [],
    );
    expect(unknownFlags(["--base-domian", "x.com", "--no-sytemd", "--admin-password-file", "-"])).toEqual([
      "--base-domian",
      "--no-sytemd",
    ]);
    expect(unknownFlags(["--", "--whatever"])).toEqual([]);
  });
});

describe("answers", () => {
  test("defaults come from the current config; flags change only what they name", async () => {
    const { answers, given } = await answersFor({
      "base-domain": "example.com",
      "subdomain-staging": "stg",
      "acme-ca": "letsencrypt-staging",
    });
    expect(answers.baseDomain).toBe("example.com");
    expect(answers.subdomains).toEqual({ dev: "dev", dev_ephemeral: "preview", staging: "stg", production: "" });
    expect(answers.acme.ca).toBe("letsencrypt-staging");
    expect(answers.role).toBe("standalone");
    expect(answers.odooImage).toBe("odoo:17.0");
    expect([...given].sort()).toEqual(["acmeCa", "baseDomain", "subdomains"]);
  });

  test("secrets come through the reader; a new key id drops the old secret", async () => {
    const cfg = ConfigSchema.parse({
      backups: { s3: { bucket: "bkt", accessKeyId: "OLD", secretAccessKey: "old-secret" } },
    });
    const read = async (spec: string) => (spec === "/s" ? "new-secret" : "pw-from-file");
    const keep = await applyFlags(currentAnswers(cfg, null), { "s3-region": "eu-west-1" }, read);
    expect(keep.answers.backups.s3).toMatchObject({
      accessKeyId: "OLD",
      secretAccessKey: "old-secret",
      region: "eu-west-1",
    });
    const swapped = await applyFlags(currentAnswers(cfg, null), { "s3-access-key-id": "NEW" }, read);
    expect(swapped.answers.backups.s3?.secretAccessKey).toBeUndefined();
    expect(() => checkAnswers(swapped.answers)).toThrow("go together");
    const full = await applyFlags(
      currentAnswers(cfg, null),
      { "s3-access-key-id": "NEW", "s3-secret-key-file": "/s", "admin-password-file": "/a", "pg-password-file": "/p" },
      read,
    );
    expect(full.answers.backups.s3).toMatchObject({ accessKeyId: "NEW", secretAccessKey: "new-secret" });
    expect(full.answers.admin.password).toBe("pw-from-file");
    expect(full.answers.postgres.password).toBe("pw-from-file");
    const removed = await applyFlags(currentAnswers(cfg, null), { s3: false }, read);
    expect(removed.answers.backups.s3).toBeNull();
    await expect(applyFlags(currentAnswers(cfg, null), { s3: false, "s3-bucket": "x" }, read)).rejects.toThrow(
      "--no-s3",
    );
  });

  test("invalid answers are refused naming the flag", async () => {
    await expect(answersFor({ role: "boss" })).rejects.toThrow("--role: expected standalone, coordinator, agent");
    await expect(answersFor({ "pg-port": "54x" })).rejects.toThrow("--pg-port");
    const agent = await answersFor({ role: "agent" });
    expect(() => checkAnswers(agent.answers)).toThrow("--join-url and --join-token");
    const badCa = await answersFor({ "acme-ca": "lets-encrypt" });
    expect(() => checkAnswers(badCa.answers)).toThrow("--acme-ca");
    const noBucket = await answersFor({ "s3-endpoint": "http://127.0.0.1:9" });
    expect(() => checkAnswers(noBucket.answers)).toThrow("--s3-bucket");
    const noTarget = await answersFor({ "local-backups": false });
    expect(() => checkAnswers(noTarget.answers)).toThrow("no backup target");
    const shortPw = await answersFor({ "admin-password-file": "/x" }, { "/x": "short" });
    expect(() => checkAnswers(shortPw.answers)).toThrow("at least 8 characters");
    const badUser = await answersFor({ "admin-user": "Root" });
    expect(() => checkAnswers(badUser.answers)).toThrow("--admin-user");
  });

  test("CA choices map to directory URLs and back", () => {
    expect(caDirectory("letsencrypt-staging")).toBe(LETSENCRYPT_STAGING);
    expect(caDirectory("none")).toBeNull();
    expect(caDirectory("https://ca.internal/dir")).toBe("https://ca.internal/dir");
    expect(caChoice(ConfigSchema.parse({}).acme)).toBe("none");
    expect(caChoice(ConfigSchema.parse({ acme: {} }).acme)).toBe("letsencrypt");
    expect(caChoice(ConfigSchema.parse({ acme: { directoryUrl: "letsencrypt-staging" } }).acme)).toBe(
      "letsencrypt-staging",
    );
    expect(caChoice(ConfigSchema.parse({ acme: { directoryUrl: "https://ca.internal/dir" } }).acme)).toBe(
      "https://ca.internal/dir",
    );
    expect(normalizePrefix("/a/b/")).toBe("a/b/");
    expect(normalizePrefix("x")).toBe("x/");
    expect(normalizePrefix("")).toBe("");
  });
});

describe("the config document", () => {
  test("first run writes the answered keys; an identical re-run changes nothing; one change changes one line", async () => {
    const paths = resolvePaths(tempRoot());
    const box = () => SecretBox.fromFile(paths.secretKeyFile);
    const { answers } = await answersFor({
      "base-domain": "example.com",
      "acme-ca": "letsencrypt",
      "acme-email": "ops@example.com",
    });
    const first = editConfig(readConfigDocument(paths), defaults(), patchesFor(answers), paths, box);
    expect(first.changed).toContain("baseDomain");
    expect(first.changed).toContain("acme.directoryUrl");
    expect(first.changed).not.toContain("listen"); // a default nobody chose stays out of the file
    expect(first.config.acme).toMatchObject({ enabled: true, email: "ops@example.com" });
    writeFileAtomic(paths.configYaml, `# kept: a comment the operator wrote\n${first.text}`);
    const current = loadConfig(paths, { env: {} });
    const again = editConfig(readConfigDocument(paths), current, patchesFor(currentAnswers(current, null)), paths, box);
    expect(again.changed).toEqual([]);
    const changedOne = currentAnswers(current, null);
    changedOne.odooImage = "odoo:18.0";
    const third = editConfig(readConfigDocument(paths), current, patchesFor(changedOne), paths, box);
    expect(third.changed).toEqual(["odoo.image"]);
    expect(third.text).toContain("# kept: a comment the operator wrote");
    const before = (await Bun.file(paths.configYaml).text()).split("\n");
    const after = third.text.split("\n");
    expect(after.filter((l, i) => l !== before[i])).toEqual(["  image: odoo:18.0"]);
  });

  test("secrets are sealed; plain-text secrets already in the file are sealed on the next run", async () => {
    const paths = resolvePaths(tempRoot());
    const box = () => SecretBox.fromFile(paths.secretKeyFile);
    writeFileAtomic(paths.configYaml, "postgres:\n  password: plain-pg-pw\n");
    const current = loadConfig(paths, { env: {} });
    const a = currentAnswers(current, null);
    a.backups.s3 = {
      bucket: "bkt",
      region: "us-east-1",
      prefix: "",
      forcePathStyle: true,
      accessKeyId: "AK",
      secretAccessKey: "s3-secret-value",
    };
    const r = editConfig(readConfigDocument(paths), current, patchesFor(a), paths, box);
    expect(r.changed).toContain("postgres.password");
    expect(r.changed).toContain("backups.s3.secretAccessKey");
    expect(r.text).not.toContain("plain-pg-pw");
    expect(r.text).not.toContain("s3-secret-value");
    const doc = parseDocument(r.text);
    expect(String(doc.getIn(["postgres", "password"]))).toMatch(/^enc:v1:/);
    expect(r.config.postgres.password).toBe("plain-pg-pw");
    expect(r.config.backups.s3?.secretAccessKey).toBe("s3-secret-value");
  });

  test("answers the schema refuses are errors naming the flag", async () => {
    const paths = resolvePaths(tempRoot());
    const { answers } = await answersFor({ "base-domain": "Not A Domain", listen: "nope" });
    const edit = () =>
      editConfig(readConfigDocument(paths), defaults(), patchesFor(answers), paths, () =>
        SecretBox.fromFile(paths.secretKeyFile),
      );
    expect(edit).toThrow("--base-domain: a lowercase domain name");
    expect(edit).toThrow("--listen: host:port");
  });

  test("a TOML config is not silently shadowed", () => {
    const paths = resolvePaths(tempRoot());
    writeFileAtomic(paths.configToml, 'baseDomain = "x.com"\n');
    expect(() => readConfigDocument(paths)).toThrow(Invalid);
  });
});

describe("secret inputs", () => {
  test("files and stdin, trailing newline stripped, stdin only once, empty refused", async () => {
    const dir = tempRoot();
    writeFileSync(join(dir, "pw"), "s3cret-value\n");
    writeFileSync(join(dir, "empty"), "\n");
    const read = readSecretInput(async () => "from-stdin\r\n");
    expect(await read(join(dir, "pw"), "--admin-password-file")).toBe("s3cret-value");
    expect(await read("-", "--admin-password-file")).toBe("from-stdin");
    await expect(read("-", "--s3-secret-key-file")).rejects.toThrow("stdin is already read by --admin-password-file");
    await expect(read(join(dir, "empty"), "--pg-password-file")).rejects.toThrow("empty");
    await expect(read(join(dir, "missing"), "--pg-password-file")).rejects.toThrow("ENOENT");
    expect(stripNewline("a\n\n")).toBe("a\n");
  });
});

describe("systemd and packages", () => {
  test("unit plan: --no-systemd, no systemd running, systemd running", () => {
    expect(planUnit({ wanted: false, booted: true, unitFileGiven: false })).toMatchObject({
      write: false,
      manage: false,
    });
    expect(planUnit({ wanted: false, booted: false, unitFileGiven: true })).toMatchObject({
      write: true,
      manage: false,
    });
    const notBooted = planUnit({ wanted: true, booted: false, unitFileGiven: false });
    expect(notBooted).toMatchObject({ write: true, manage: false });
    expect(notBooted.note).toContain("systemd is not running");
    expect(planUnit({ wanted: true, booted: true, unitFileGiven: false })).toEqual({ write: true, manage: true });
    expect(systemdBooted(join(tempRoot(), "nope"))).toBe(false);
    expect(systemdBooted(tempRoot())).toBe(true);
  });

  test("the unit runs this binary when compiled, the installed one under bun; extra writable paths", () => {
    expect(defaultBinary("/usr/local/bin/odooops")).toBe("/usr/local/bin/odooops");
    expect(defaultBinary("/root/.bun/bin/bun")).toBe("/usr/local/bin/odooops");
    const cfg = ConfigSchema.parse({
      backups: { local: { dir: "/srv/backups" } },
      postgres: { hbaFile: "/opt/pg/data/pg_hba.conf" },
    });
    expect(extraWritePaths(cfg, resolvePaths(null))).toEqual(["-/srv/backups", "-/opt/pg/data"]);
    expect(extraWritePaths(ConfigSchema.parse({}), resolvePaths(null))).toEqual([]);
    const rooted = ConfigSchema.parse({ backups: { local: { dir: "/x/root/b" } } });
    expect(extraWritePaths(rooted, resolvePaths("/x/root"))).toEqual([]);
  });

  test("apt commands and the packages that fix failed checks", () => {
    expect(aptUpdate()).toEqual({
      argv: ["apt-get", "-q", "update"],
      env: { DEBIAN_FRONTEND: "noninteractive" },
      timeoutMs: 600_000,
    });
    expect(aptInstall(["docker.io", "nginx"]).argv).toEqual(["apt-get", "-q", "-y", "install", "docker.io", "nginx"]);
    const results = [
      { id: "docker", title: "", status: "fail" as const, message: "", install: ["docker.io"] },
      { id: "postgres", title: "", status: "fail" as const, message: "" },
      { id: "nginx", title: "", status: "pass" as const, message: "", install: ["nginx"] },
    ];
    expect(missingPackages(results)).toEqual(["docker.io"]);
  });
});
