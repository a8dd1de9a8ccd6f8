/**
 * The answers of `odooops init`: read from the current config (so a re-run offers what is set),
 * changed by flags or the wizard, then turned into config-file patches.
 */
import type { Config, TierName } from "../config/schema";
import { Invalid } from "../errors";
import { TIERS } from "../env/vocabulary";
import { LETSENCRYPT_PRODUCTION, LETSENCRYPT_STAGING } from "../host/acme";
import type { InitFlagName } from "./flags";

export type Role = Config["role"];
export const ROLES: Role[] = ["standalone", "coordinator", "agent"];

export interface S3Answer {
  endpoint?: string;
  region: string;
  bucket: string;
  prefix: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle: boolean;
}

export interface JoinAnswer {
  url: string;
  token: string;
}

export interface Answers {
  role: Role;
  listen: string;
  publicUrl?: string;
  /** Agents only: where and how to enroll with the coordinator. */
  join: JoinAnswer | null;
  baseDomain: string;
  subdomains: Record<TierName, string>;
  /** `ca`: "letsencrypt", "letsencrypt-staging", a directory URL, or "none" (ACME off). */
  acme: { ca: string; email?: string; caFile?: string };
  backups: { local: boolean; dir: string; s3: S3Answer | null };
  /** No password: keep the user's current one (a new user gets a random one). */
  admin: { username: string; password?: string };
  odooImage: string;
  postgres: Config["postgres"];
  /** nginx's main configuration file (odooops' vhosts get included from it). */
  nginxConfig: string;
}

/** What the wizard does not ask again because a flag answered it. */
export type Question =
  | "role"
  | "join"
  | "publicUrl"
  | "baseDomain"
  | "subdomains"
  | "acmeCa"
  | "acmeEmail"
  | "localBackups"
  | "s3"
  | "adminUser"
  | "adminPassword"
  | "odooImage";

const CA_ALIASES: Record<string, string> = {
  letsencrypt: LETSENCRYPT_PRODUCTION,
  "letsencrypt-staging": LETSENCRYPT_STAGING,
};

/** The directory URL of a CA answer; null for "none". */
export function caDirectory(ca: string): string | null {
  if (ca === "none") return null;
  return CA_ALIASES[ca] ?? ca;
}

export function caChoice(acme: Config["acme"]): string {
  if (!acme.enabled) return "none";
  return Object.entries(CA_ALIASES).find(([, url]) => url === acme.directoryUrl)?.[0] ?? acme.directoryUrl;
}

/** The S3 key prefix as the config stores it: no leading slash, "" or ending in one "/". */
export function normalizePrefix(p: string): string {
  const trimmed = p.replace(/^\/+|\/+$/g, "");
  return trimmed === "" ? "" : `${trimmed}/`;
}

export function currentAnswers(config: Config, join: JoinAnswer | null): Answers {
  const s3 = config.backups.s3;
  return {
    role: config.role,
    listen: config.listen,
    publicUrl: config.publicUrl,
    join,
    baseDomain: config.baseDomain,
    subdomains: Object.fromEntries(TIERS.map((t) => [t, config.tiers[t].subdomain])) as Record<TierName, string>,
    acme: { ca: caChoice(config.acme), email: config.acme.email, caFile: config.acme.caFile },
    backups: {
      local: config.backups.local.enabled,
      dir: config.backups.local.dir,
      s3: s3
        ? {
            endpoint: s3.endpoint,
            region: s3.region,
            bucket: s3.bucket,
            prefix: s3.prefix,
            accessKeyId: s3.accessKeyId,
            secretAccessKey: s3.secretAccessKey,
            forcePathStyle: s3.forcePathStyle,
          }
        : null,
    },
    admin: { username: "admin" },
    odooImage: config.odoo.image,
    postgres: { ...config.postgres },
    nginxConfig: config.nginx.configFile,
  };
}

export type FlagValues = Partial<Record<InitFlagName, string | boolean>>;

/** Reads a secret named by a `--…-file` flag ("-" = stdin). */
export type ReadSecret = (spec: string, flag: string) => Promise<string>;

const SUBDOMAIN_FLAGS: [InitFlagName, TierName][] = [
  ["subdomain-dev", "dev"],
  ["subdomain-preview", "dev_ephemeral"],
  ["subdomain-staging", "staging"],
  ["subdomain-production", "production"],
];

const S3_FLAGS: InitFlagName[] = [
  "s3-endpoint",
  "s3-region",
  "s3-bucket",
  "s3-prefix",
  "s3-access-key-id",
  "s3-secret-key-file",
  "s3-path-style",
];

function str(flags: FlagValues, name: InitFlagName): string | undefined {
  const v = flags[name];
  return typeof v === "string" ? v : undefined;
}

/** The answers with every given flag applied, and which questions the flags answered. */
export async function applyFlags(
  current: Answers,
  flags: FlagValues,
  readSecret: ReadSecret,
): Promise<{ answers: Answers; given: Set<Question> }> {
  const a: Answers = structuredClone(current);
  const given = new Set<Question>();
  const role = str(flags, "role");
  if (role !== undefined) {
    if (!ROLES.includes(role as Role))
      throw new Invalid(`--role: expected ${ROLES.join(", ")}, got ${JSON.stringify(role)}`);
    a.role = role as Role;
    given.add("role");
  }
  const joinUrl = str(flags, "join-url");
  const joinToken = str(flags, "join-token");
  if (joinUrl !== undefined || joinToken !== undefined) {
    a.join = { url: joinUrl ?? a.join?.url ?? "", token: joinToken ?? a.join?.token ?? "" };
    given.add("join");
  }
  const listen = str(flags, "listen");
  if (listen !== undefined) a.listen = listen;
  const publicUrl = str(flags, "public-url");
  if (publicUrl !== undefined) {
    a.publicUrl = publicUrl === "" ? undefined : publicUrl;
    given.add("publicUrl");
  }
  const baseDomain = str(flags, "base-domain");
  if (baseDomain !== undefined) {
    a.baseDomain = baseDomain;
    given.add("baseDomain");
  }
  for (const [flag, tier] of SUBDOMAIN_FLAGS) {
    const v = str(flags, flag);
    if (v === undefined) continue;
    a.subdomains[tier] = v;
    given.add("subdomains");
  }
  const ca = str(flags, "acme-ca");
  if (ca !== undefined) {
    a.acme.ca = ca;
    given.add("acmeCa");
  }
  const caFile = str(flags, "acme-ca-file");
  if (caFile !== undefined) a.acme.caFile = caFile === "" ? undefined : caFile;
  const email = str(flags, "acme-email");
  if (email !== undefined) {
    a.acme.email = email === "" ? undefined : email;
    given.add("acmeEmail");
  }
  if (typeof flags["local-backups"] === "boolean") {
    a.backups.local = flags["local-backups"];
    given.add("localBackups");
  }
  const dir = str(flags, "backup-dir");
  if (dir !== undefined) {
    a.backups.dir = dir;
    given.add("localBackups");
  }
  await applyS3Flags(a, flags, readSecret, given);
  const adminUser = str(flags, "admin-user");
  if (adminUser !== undefined) {
    a.admin.username = adminUser;
    given.add("adminUser");
  }
  const adminPw = str(flags, "admin-password-file");
  if (adminPw !== undefined) {
    a.admin.password = await readSecret(adminPw, "--admin-password-file");
    given.add("adminPassword");
  }
  const image = str(flags, "odoo-image");
  if (image !== undefined) {
    a.odooImage = image;
    given.add("odooImage");
  }
  applyPostgresFlags(a, flags);
  const pgPw = str(flags, "pg-password-file");
  if (pgPw !== undefined) a.postgres.password = await readSecret(pgPw, "--pg-password-file");
  return { answers: a, given };
}

async function applyS3Flags(
  a: Answers,
  flags: FlagValues,
  readSecret: ReadSecret,
  given: Set<Question>,
): Promise<void> {
  if (flags.s3 === false) {
    if (S3_FLAGS.some((f) => flags[f] !== undefined))
      throw new Invalid("--no-s3 removes the S3 target: it cannot be combined with --s3-* flags");
    a.backups.s3 = null;
    given.add("s3");
    return;
  }
  if (!S3_FLAGS.some((f) => flags[f] !== undefined)) return;
  const s3: S3Answer = a.backups.s3 ?? { region: "us-east-1", bucket: "", prefix: "", forcePathStyle: false };
  const endpoint = str(flags, "s3-endpoint");
  if (endpoint !== undefined) s3.endpoint = endpoint === "" ? undefined : endpoint;
  s3.region = str(flags, "s3-region") ?? s3.region;
  s3.bucket = str(flags, "s3-bucket") ?? s3.bucket;
  const prefix = str(flags, "s3-prefix");
  if (prefix !== undefined) s3.prefix = normalizePrefix(prefix);
  const keyId = str(flags, "s3-access-key-id");
  if (keyId !== undefined && keyId !== s3.accessKeyId) {
    // A new key id with the old secret cannot work: the secret must come with it.
    s3.accessKeyId = keyId === "" ? undefined : keyId;
    s3.secretAccessKey = undefined;
  }
  const secretFile = str(flags, "s3-secret-key-file");
  if (secretFile !== undefined) s3.secretAccessKey = await readSecret(secretFile, "--s3-secret-key-file");
  if (typeof flags["s3-path-style"] === "boolean") s3.forcePathStyle = flags["s3-path-style"];
  a.backups.s3 = s3;
  given.add("s3");
}

function applyPostgresFlags(a: Answers, flags: FlagValues): void {
  const host = str(flags, "pg-host");
  if (host !== undefined) a.postgres.host = host;
  const port = str(flags, "pg-port");
  if (port !== undefined) {
    const n = Number(port);
    if (!Number.isInteger(n) || n < 1 || n > 65535)
      throw new Invalid(`--pg-port: expected a port number, got ${JSON.stringify(port)}`);
    a.postgres.port = n;
  }
  const user = str(flags, "pg-user");
  if (user !== undefined) a.postgres.user = user;
  const hba = str(flags, "pg-hba-file");
  if (hba !== undefined) a.postgres.hbaFile = hba;
  const nginxConfig = str(flags, "nginx-config");
  if (nginxConfig !== undefined) a.nginxConfig = nginxConfig;
}

/** Checks that need more than the config schema (which validates the rest when patched). */
export function checkAnswers(a: Answers): void {
  if (a.role === "agent") {
    if (!a.join || a.join.url === "" || a.join.token === "")
      throw new Invalid("role agent needs --join-url and --join-token (from `odooops host add` on the coordinator)");
    if (!/^https?:\/\/[^\s/]+/.test(a.join.url))
      throw new Invalid(`--join-url: expected an http(s) URL, got ${JSON.stringify(a.join.url)}`);
  }
  const ca = a.acme.ca;
  if (ca !== "none" && !(ca in CA_ALIASES) && !/^https?:\/\/\S+$/.test(ca)) {
    throw new Invalid(
      `--acme-ca: expected letsencrypt, letsencrypt-staging, an http(s) directory URL or none, got ${JSON.stringify(ca)}`,
    );
  }
  const s3 = a.backups.s3;
  if (s3) {
    if (s3.bucket === "") throw new Invalid("an S3 target needs --s3-bucket");
    if ((s3.accessKeyId === undefined) !== (s3.secretAccessKey === undefined)) {
      throw new Invalid(
        "--s3-access-key-id and --s3-secret-key-file go together (without both, the SDK's default credentials are used)",
      );
    }
  }
  if (!a.backups.local && !s3)
    throw new Invalid("no backup target left: keep local backups or configure S3 (--s3-bucket …)");
  if (a.role !== "agent") {
    if (!/^[a-z][a-z0-9._-]{1,31}$/.test(a.admin.username))
      throw new Invalid(
        `--admin-user: invalid username ${JSON.stringify(a.admin.username)}: 2-32 chars, a-z 0-9 . _ -, starting with a letter`,
      );
    if (a.admin.password !== undefined && a.admin.password.length < 8)
      throw new Invalid("the admin password must have at least 8 characters");
  }
}
