/**
 * The certificate store. `<certsDir>/<domain>` is a symlink to one version directory
 * `<certsDir>/_versions/<domain>/<stamp>/` holding fullchain.pem, privkey.pem (0600) and
 * meta.json. nginx is pointed at `<certsDir>/<domain>/fullchain.pem` + `privkey.pem`; a new
 * version is written completely, then the symlink is swapped with one rename — a reload racing
 * a renewal never sees a new key with an old certificate. The last few versions are kept so an
 * operator can go back by hand.
 */
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { AppError, errorText } from "../errors";
import { assertDomain, isDomain } from "./domain";
import { readCertInfo, type CertInfo } from "./info";
import { validatePair } from "./validate";

const KEEP_VERSIONS = 3;

export const CertSource = z.enum(["acme", "imported"]);
export type CertSource = z.infer<typeof CertSource>;

const MetaSchema = z.object({
  version: z.literal(1),
  domain: z.string(),
  source: CertSource,
  serial: z.string(),
  notBefore: z.iso.datetime(),
  notAfter: z.iso.datetime(),
  sans: z.array(z.string()),
  issuer: z.string(),
  fingerprint256: z.string(),
  storedAt: z.iso.datetime(),
  /** ACME directory that issued it (renewals go to the same CA). */
  directoryUrl: z.string().optional(),
});
export type CertMeta = z.infer<typeof MetaSchema>;

export interface CertFiles {
  /** `<certsDir>/<domain>` (the symlink). */
  dir: string;
  fullchain: string;
  privkey: string;
  meta: string;
}

export interface StoredCertificate {
  domain: string;
  files: CertFiles;
  info: CertInfo;
  meta: CertMeta;
}

export interface SaveInput {
  fullchainPem: string;
  privkeyPem: string;
  source: CertSource;
  directoryUrl?: string;
}

export function certFiles(certsDir: string, domain: string): CertFiles {
  const dir = join(certsDir, assertDomain(domain));
  return {
    dir,
    fullchain: join(dir, "fullchain.pem"),
    privkey: join(dir, "privkey.pem"),
    meta: join(dir, "meta.json"),
  };
}

function versionsDir(certsDir: string, domain: string): string {
  return join(certsDir, "_versions", domain);
}

/** Validates and stores a pair, then makes it the current version. */
export function saveCertificate(
  certsDir: string,
  domain: string,
  input: SaveInput,
  now: Date = new Date(),
): StoredCertificate {
  const files = certFiles(certsDir, domain);
  const info = validatePair({ domain, fullchainPem: input.fullchainPem, privkeyPem: input.privkeyPem }, now);
  const stamp = `${now.toISOString().replace(/[-:.]/g, "")}-${info.serial.slice(-12)}`;
  const vdir = join(versionsDir(certsDir, domain), stamp);
  mkdirSync(vdir, { recursive: true, mode: 0o755 });
  const meta: CertMeta = {
    version: 1,
    domain,
    source: input.source,
    serial: info.serial,
    notBefore: info.notBefore.toISOString(),
    notAfter: info.notAfter.toISOString(),
    sans: info.sans,
    issuer: info.issuer,
    fingerprint256: info.fingerprint256,
    storedAt: now.toISOString(),
    ...(input.directoryUrl ? { directoryUrl: input.directoryUrl } : {}),
  };
  writeFileSync(join(vdir, "privkey.pem"), input.privkeyPem, { mode: 0o600 });
  chmodSync(join(vdir, "privkey.pem"), 0o600); // mode above is masked by umask only downwards; be explicit
  writeFileSync(
    join(vdir, "fullchain.pem"),
    input.fullchainPem.endsWith("\n") ? input.fullchainPem : `${input.fullchainPem}\n`,
    { mode: 0o644 },
  );
  writeFileSync(join(vdir, "meta.json"), `${JSON.stringify(meta, null, 2)}\n`, { mode: 0o644 });

  const tmpLink = join(certsDir, `_tmp-${domain}-${crypto.randomUUID().slice(0, 8)}`);
  symlinkSync(join("_versions", domain, stamp), tmpLink);
  renameSync(tmpLink, files.dir);
  pruneVersions(certsDir, domain, stamp);
  return { domain, files, info, meta };
}

function pruneVersions(certsDir: string, domain: string, current: string): void {
  const vroot = versionsDir(certsDir, domain);
  const old = readdirSync(vroot)
    .filter((v) => v !== current)
    .sort()
    .reverse();
  for (const v of old.slice(KEEP_VERSIONS - 1)) rmSync(join(vroot, v), { recursive: true, force: true });
}

function readMeta(files: CertFiles): CertMeta | null {
  if (!existsSync(files.meta)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(files.meta, "utf8"));
  } catch (e) {
    throw new AppError(`certificate metadata ${files.meta} is unreadable: ${errorText(e)}`);
  }
  const parsed = MetaSchema.safeParse(raw);
  if (!parsed.success) throw new AppError(`certificate metadata ${files.meta} is unreadable: ${parsed.error.message}`);
  return parsed.data;
}

/** The current certificate for `domain`, or null when there is none. Throws on a corrupt entry. */
export function loadCertificate(certsDir: string, domain: string): StoredCertificate | null {
  const files = certFiles(certsDir, domain);
  const meta = readMeta(files);
  if (!meta) return null;
  // The PEM is the truth (meta.json is a cache of where it came from); it is cheap to parse.
  return { domain, files, info: readCertInfo(readFileSync(files.fullchain, "utf8")), meta };
}

/**
 * The current certificate's metadata alone (null: none), written from the parsed PEM when it was
 * stored, in the same version directory. For displays only (the console's days left): the first
 * X509 parse of a process leaves ~2 MB resident (bench/README.md, console), and a display needs
 * no more than what was recorded; anything that acts on a certificate uses loadCertificate.
 */
export function loadCertificateMeta(certsDir: string, domain: string): CertMeta | null {
  return readMeta(certFiles(certsDir, domain));
}

export interface CertListing {
  domain: string;
  cert: StoredCertificate | null;
  /** Why the entry could not be read (the listing goes on with the others). */
  error?: string;
}

/** Every domain with a current certificate, sorted. */
export function storedCertificates(certsDir: string): CertListing[] {
  if (!existsSync(certsDir)) return [];
  return readdirSync(certsDir)
    .filter((name) => isDomain(name) && lstatSync(join(certsDir, name)).isSymbolicLink())
    .sort()
    .map((domain) => {
      try {
        return { domain, cert: loadCertificate(certsDir, domain) };
      } catch (e) {
        return { domain, cert: null, error: errorText(e) };
      }
    });
}

/** Removes the current link and all versions of `domain`; false when there was nothing. */
export function removeCertificate(certsDir: string, domain: string): boolean {
  const files = certFiles(certsDir, domain);
  const had = lstatExists(files.dir);
  rmSync(files.dir, { force: true });
  rmSync(versionsDir(certsDir, domain), { recursive: true, force: true });
  return had;
}

function lstatExists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** The version directory the current link points at (for diagnostics). */
export function currentVersion(certsDir: string, domain: string): string | null {
  const files = certFiles(certsDir, domain);
  return lstatExists(files.dir) ? readlinkSync(files.dir) : null;
}
