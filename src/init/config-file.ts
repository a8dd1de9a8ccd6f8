/**
 * The config file as init edits it: the existing YAML document (comments, order and keys init
 * does not manage are kept) with only the answers that differ set; secrets sealed with the key
 * file; validated as the daemon will load it; written atomically, 0600.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { Document, parseDocument } from "yaml";
import { SecretBox } from "../auth/secretbox";
import { decryptConfigValues, ENCRYPTED_PREFIX, isEncryptedValue } from "../config/load";
import type { Paths } from "../config/paths";
import { type Config, ConfigSchema } from "../config/schema";
import { Invalid, issuesText } from "../errors";
import { type Answers, caDirectory } from "./answers";
import { TIERS } from "../env/vocabulary";

type Value = string | number | boolean;

export interface Patch {
  path: string[];
  /** undefined: remove the key. */
  value: Value | undefined;
  /** What to compare with the current config when it differs from what is written (aliases). */
  compare?: Value;
  secret?: boolean;
  /** Written even when it equals the default, so the file records the choice. */
  always?: boolean;
}

export function patchesFor(a: Answers): Patch[] {
  const p: Patch[] = [
    { path: ["role"], value: a.role, always: true },
    { path: ["listen"], value: a.listen },
    { path: ["baseDomain"], value: a.baseDomain, always: true },
    ...TIERS.map((t): Patch => ({ path: ["tiers", t, "subdomain"], value: a.subdomains[t], always: true })),
    { path: ["odoo", "image"], value: a.odooImage, always: true },
    { path: ["backups", "local", "enabled"], value: a.backups.local, always: true },
    { path: ["backups", "local", "dir"], value: a.backups.dir },
    { path: ["postgres", "host"], value: a.postgres.host },
    { path: ["postgres", "port"], value: a.postgres.port },
    { path: ["postgres", "user"], value: a.postgres.user },
    { path: ["postgres", "password"], value: a.postgres.password, secret: true },
    { path: ["postgres", "hbaFile"], value: a.postgres.hbaFile },
    { path: ["nginx", "configFile"], value: a.nginxConfig },
  ];
  p.push({ path: ["publicUrl"], value: a.publicUrl });
  const directory = caDirectory(a.acme.ca);
  if (directory === null) p.push({ path: ["acme", "enabled"], value: false, always: true });
  else {
    p.push(
      { path: ["acme", "enabled"], value: true, always: true },
      { path: ["acme", "directoryUrl"], value: a.acme.ca, compare: directory, always: true },
      { path: ["acme", "email"], value: a.acme.email, always: a.acme.email !== undefined },
      { path: ["acme", "caFile"], value: a.acme.caFile },
    );
  }
  const s3 = a.backups.s3;
  if (s3 === null) p.push({ path: ["backups", "s3"], value: undefined });
  else {
    const at = (k: string) => ["backups", "s3", k];
    p.push(
      { path: at("endpoint"), value: s3.endpoint, always: s3.endpoint !== undefined },
      { path: at("region"), value: s3.region, always: true },
      { path: at("bucket"), value: s3.bucket, always: true },
      { path: at("prefix"), value: s3.prefix, always: true },
      { path: at("accessKeyId"), value: s3.accessKeyId, always: s3.accessKeyId !== undefined },
      {
        path: at("secretAccessKey"),
        value: s3.secretAccessKey,
        secret: true,
        always: s3.secretAccessKey !== undefined,
      },
      { path: at("forcePathStyle"), value: s3.forcePathStyle, always: true },
    );
  }
  return p;
}

function get(obj: unknown, path: string[]): unknown {
  let cur = obj;
  for (const k of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/** The current document: the YAML file, or an empty one on a first run. */
export function readConfigDocument(paths: Paths): Document {
  if (existsSync(paths.configToml) && !existsSync(paths.configYaml)) {
    throw new Invalid(
      `${paths.configToml} exists: init writes ${paths.configYaml}; convert the TOML file to YAML (or remove it), then run init again`,
    );
  }
  if (!existsSync(paths.configYaml)) return new Document({});
  const doc = parseDocument(readFileSync(paths.configYaml, "utf8"));
  if (doc.errors.length > 0)
    throw new Invalid(`${paths.configYaml}: invalid YAML: ${doc.errors[0].message.split("\n")[0]}`);
  return doc;
}

export interface EditResult {
  text: string;
  /** Dotted keys that changed ("backups.s3.secretAccessKey"). */
  changed: string[];
  /** The config the daemon will load from `text`. */
  config: Config;
}

/** Flags named in validation errors, for the keys init writes. */
const FLAG_OF: Record<string, string> = {
  role: "--role",
  listen: "--listen",
  publicUrl: "--public-url",
  baseDomain: "--base-domain",
  "tiers.dev.subdomain": "--subdomain-dev",
  "tiers.dev_ephemeral.subdomain": "--subdomain-preview",
  "tiers.staging.subdomain": "--subdomain-staging",
  "tiers.production.subdomain": "--subdomain-production",
  "odoo.image": "--odoo-image",
  "acme.email": "--acme-email",
  "acme.directoryUrl": "--acme-ca",
  "acme.caFile": "--acme-ca-file",
  "backups.local.dir": "--backup-dir",
  "backups.s3.endpoint": "--s3-endpoint",
  "backups.s3.region": "--s3-region",
  "backups.s3.bucket": "--s3-bucket",
  "backups.s3.prefix": "--s3-prefix",
  "postgres.host": "--pg-host",
  "postgres.port": "--pg-port",
  "postgres.user": "--pg-user",
  "postgres.hbaFile": "--pg-hba-file",
  "nginx.configFile": "--nginx-config",
};

/**
 * Applies the patches that change something. `box` is opened on first use: a config without
 * secrets needs no key file.
 */
export function editConfig(
  doc: Document,
  current: Config,
  patches: Patch[],
  paths: Paths,
  box: () => SecretBox,
): EditResult {
  const changed: string[] = [];
  for (const p of patches) {
    const key = p.path.join(".");
    const inFile = doc.hasIn(p.path);
    if (p.value === undefined) {
      if (inFile) {
        doc.deleteIn(p.path);
        changed.push(key);
      }
      continue;
    }
    const now = get(current, p.path);
    const differs = (p.compare ?? p.value) !== now;
    // A secret still in plain text is rewritten sealed even when its value stays.
    const plainSecret = p.secret === true && inFile && !isEncryptedValue(doc.getIn(p.path));
    if (p.secret && p.value === "" && !inFile) continue;
    if (!differs && !plainSecret && (inFile || !p.always)) continue;
    doc.setIn(p.path, p.secret && p.value !== "" ? `${ENCRYPTED_PREFIX}${box().seal(String(p.value))}` : p.value);
    changed.push(key);
  }
  const text = String(doc);
  const data = (doc.toJS() ?? {}) as Record<string, never>;
  const parsed = ConfigSchema.safeParse(decryptConfigValues(data, paths.secretKeyFile, paths.configYaml));
  if (!parsed.success) {
    const msg = issuesText(parsed.error, { label: (k) => FLAG_OF[k], sep: "\n" });
    throw new Invalid(`the answers do not make a valid config:\n${msg}`);
  }
  return { text, changed, config: parsed.data };
}

/** Writes `text` next to `file`, 0600, and renames it into place: readers see old or new, never half. */
export function writeFileAtomic(file: string, text: string, mode = 0o600): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o750 });
  const tmp = join(dirname(file), `.${basename(file)}.init-${process.pid}-${Date.now()}`);
  try {
    writeFileSync(tmp, text, { mode });
    chmodSync(tmp, mode);
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
