/**
 * The interactive questions (clack). Only called on a real terminal; each question shows the
 * current value as its default and is skipped when a flag already answered it.
 */
import * as clack from "@clack/prompts";
import type { Config } from "../config/schema";
import { Invalid } from "../errors";
import { type Answers, caDirectory, normalizePrefix, type Question, type Role, type S3Answer } from "./answers";

const DOMAIN = /^[a-z0-9-]+(\.[a-z0-9-]+)*$/;
const LABELS = /^([a-z0-9-]+(\.[a-z0-9-]+)*)?$/;
const URL_RE = /^https?:\/\/[^\s/]+\S*$/;
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function answered<T>(v: T | symbol): Exclude<T, symbol> {
  if (clack.isCancel(v)) throw new Invalid("init cancelled; nothing was changed");
  return v as Exclude<T, symbol>;
}

/** A text question whose empty answer keeps `current`; "-" clears an optional one. */
async function ask(
  message: string,
  current: string,
  check?: (v: string) => string | undefined,
  opts: { optional?: boolean; placeholder?: string } = {},
): Promise<string> {
  const clearable = opts.optional === true && current !== "";
  const v = answered(
    await clack.text({
      message: clearable ? `${message} (- for none)` : message,
      placeholder: current === "" ? (opts.placeholder ?? (opts.optional ? "(none)" : undefined)) : current,
      // An accepted placeholder is shown as the answer (the value stays "": the default).
      defaultValue: current === "" && opts.placeholder ? opts.placeholder : current,
      validate: (raw) => {
        const value = raw === undefined || raw.trim() === "" ? current : raw.trim();
        if (opts.optional && (value === "" || value === "-")) return undefined;
        if (value === "") return "required";
        return check?.(value);
      },
    }),
  );
  const value = (v ?? "").trim();
  if (value === "" || (current === "" && value === opts.placeholder)) return current;
  return opts.optional && value === "-" ? "" : value;
}

async function yesNo(message: string, initialValue: boolean): Promise<boolean> {
  return answered(await clack.confirm({ message, initialValue }));
}

/** A secret; empty keeps `current` when there is one. */
async function secret(message: string, current: string | undefined, minLength = 1): Promise<string | undefined> {
  const v = answered(
    await clack.password({
      message: current !== undefined ? `${message} (empty: keep the current one)` : message,
      validate: (raw) => {
        if ((raw ?? "") === "") return current !== undefined || minLength === 0 ? undefined : "required";
        return (raw ?? "").length < minLength ? `at least ${minLength} characters` : undefined;
      },
    }),
  );
  return v === undefined || v === "" ? current : v;
}

const matches = (re: RegExp, what: string) => (v: string) => (re.test(v) ? undefined : what);

export interface WizardContext {
  /** Shown as the default local backup directory. */
  defaultBackupDir: string;
  /** The admin user exists already (an empty password keeps it). */
  adminExists: (username: string) => boolean;
}

export async function runWizard(current: Answers, given: Set<Question>, ctx: WizardContext): Promise<Answers> {
  const a: Answers = structuredClone(current);
  if (!given.has("role")) {
    a.role = answered(
      await clack.select<Role>({
        message: "Role of this host",
        initialValue: a.role,
        options: [
          { value: "standalone", label: "standalone", hint: "API and environments on this host (most setups)" },
          { value: "coordinator", label: "coordinator", hint: "API and state; environments run on agents" },
          { value: "agent", label: "agent", hint: "runs environments for a coordinator" },
        ],
      }),
    );
  }
  if (a.role === "agent" && !given.has("join")) {
    const url = await ask("Coordinator URL", a.join?.url ?? "", matches(URL_RE, "an http(s) URL"));
    const token = await secret(
      "Join token (from `odooops host add` on the coordinator)",
      a.join?.url === url ? a.join?.token : undefined,
    );
    a.join = { url, token: token ?? "" };
  }
  if (a.role === "coordinator" && !given.has("publicUrl")) {
    const url = await ask(
      "Public URL of this coordinator (for agents and GitHub)",
      a.publicUrl ?? "",
      matches(URL_RE, "an http(s) URL"),
      { optional: true },
    );
    a.publicUrl = url === "" ? undefined : url;
  }
  if (!given.has("baseDomain"))
    a.baseDomain = await ask(
      "Base domain of the environments",
      a.baseDomain,
      matches(DOMAIN, "a lowercase domain name"),
    );
  if (!given.has("subdomains")) await askSubdomains(a);
  if (!given.has("acmeCa")) await askCa(a);
  if (a.acme.ca !== "none" && !given.has("acmeEmail")) {
    const email = await ask(
      "Contact email for certificate expiry notices",
      a.acme.email ?? "",
      (v) => (/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v) ? undefined : "an email address"),
      { optional: true },
    );
    a.acme.email = email === "" ? undefined : email;
  }
  if (!given.has("localBackups")) {
    a.backups.local = await yesNo("Keep backups on this host?", a.backups.local);
    if (a.backups.local) {
      const dir = await ask(
        "Local backup directory",
        a.backups.dir,
        (v) => (v.startsWith("/") ? undefined : "an absolute path"),
        { optional: true, placeholder: ctx.defaultBackupDir },
      );
      a.backups.dir = dir;
    }
  }
  if (!given.has("s3"))
    a.backups.s3 = (await yesNo("Copy backups to S3 (or an S3-compatible store)?", a.backups.s3 !== null))
      ? await askS3(a.backups.s3)
      : null;
  if (a.role !== "agent") {
    if (!given.has("adminUser"))
      a.admin.username = await ask(
        "API admin user",
        a.admin.username,
        matches(/^[a-z][a-z0-9._-]{1,31}$/, "2-32 chars: a-z 0-9 . _ -, starting with a letter"),
      );
    if (!given.has("adminPassword")) {
      const exists = ctx.adminExists(a.admin.username);
      const pw = answered(
        await clack.password({
          message: `Password of ${a.admin.username} (empty: ${exists ? "keep the current one" : "generate one"})`,
          validate: (raw) => ((raw ?? "") === "" || (raw ?? "").length >= 8 ? undefined : "at least 8 characters"),
        }),
      );
      a.admin.password = pw === undefined || pw === "" ? undefined : pw;
    }
  }
  if (!given.has("odooImage"))
    a.odooImage = await ask("Default Odoo image", a.odooImage, matches(/^\S+$/, "an image reference"));
  return a;
}

async function askSubdomains(a: Answers): Promise<void> {
  const s = a.subdomains;
  const host = (sub: string) => `<name>.${sub === "" ? "" : `${sub}.`}${a.baseDomain}`;
  const keep = await yesNo(
    `Keep the tier hostnames? dev ${host(s.dev)}, previews ${host(s.dev_ephemeral)}, staging ${host(s.staging)}, production ${host(s.production)}`,
    true,
  );
  if (keep) return;
  const check = matches(LABELS, "lowercase DNS labels");
  s.dev = await ask("Subdomain of dev envs", s.dev, check, { optional: true });
  s.dev_ephemeral = await ask("Subdomain of PR previews", s.dev_ephemeral, check, { optional: true });
  s.staging = await ask("Subdomain of staging envs", s.staging, check, { optional: true });
  s.production = await ask("Subdomain of production envs (empty: <name>.<base domain>)", s.production, check, {
    optional: true,
  });
}

async function askCa(a: Answers): Promise<void> {
  const known = ["letsencrypt", "letsencrypt-staging", "none"];
  const choice = answered(
    await clack.select<string>({
      message: "Certificates (ACME CA)",
      initialValue: known.includes(a.acme.ca) ? a.acme.ca : "custom",
      options: [
        { value: "letsencrypt", label: "Let's Encrypt", hint: "trusted certificates" },
        { value: "letsencrypt-staging", label: "Let's Encrypt staging", hint: "untrusted, for trying things out" },
        { value: "custom", label: "another ACME CA", hint: "directory URL" },
        { value: "none", label: "none", hint: "HTTP only, or certificates you import" },
      ],
    }),
  );
  if (choice !== "custom") {
    a.acme.ca = choice;
    return;
  }
  const currentUrl = known.includes(a.acme.ca) ? "" : (caDirectory(a.acme.ca) ?? "");
  a.acme.ca = await ask("ACME directory URL", currentUrl, matches(URL_RE, "an http(s) URL"));
  const caFile = await ask(
    "CA bundle (PEM) to trust for it",
    a.acme.caFile ?? "",
    (v) => (v.startsWith("/") ? undefined : "an absolute path"),
    { optional: true },
  );
  a.acme.caFile = caFile === "" ? undefined : caFile;
}

async function askS3(current: S3Answer | null): Promise<S3Answer> {
  const c: S3Answer = current ?? { region: "us-east-1", bucket: "", prefix: "", forcePathStyle: false };
  const endpoint = await ask("S3 endpoint URL (empty: AWS)", c.endpoint ?? "", matches(URL_RE, "an http(s) URL"), {
    optional: true,
  });
  const region = await ask("S3 region", c.region);
  const bucket = await ask("S3 bucket", c.bucket, matches(BUCKET, "an S3 bucket name (3-63 chars: a-z 0-9 . -)"));
  const prefix = normalizePrefix(await ask("Key prefix inside the bucket", c.prefix, undefined, { optional: true }));
  const keyId = await ask("Access key id (empty: the SDK's default credentials)", c.accessKeyId ?? "", undefined, {
    optional: true,
  });
  const secretKey =
    keyId === ""
      ? undefined
      : await secret("Secret access key", keyId === c.accessKeyId ? c.secretAccessKey : undefined);
  const pathStyle = await yesNo(
    "Path-style URLs? (MinIO and most self-hosted servers need them)",
    current ? c.forcePathStyle : endpoint !== "",
  );
  return {
    endpoint: endpoint === "" ? undefined : endpoint,
    region,
    bucket,
    prefix,
    accessKeyId: keyId === "" ? undefined : keyId,
    secretAccessKey: secretKey,
    forcePathStyle: pathStyle,
  };
}

/** init could not reach PostgreSQL and may not set up a local cluster: how the daemon logs in. */
export async function askPostgres(current: Config["postgres"]): Promise<Config["postgres"]> {
  clack.log.warn("odooops cannot connect to PostgreSQL with the current settings");
  const host = await ask(
    "PostgreSQL host (or socket directory)",
    current.host,
    matches(/^\S+$/, "a host name, an IP or a directory"),
  );
  const port = await ask("PostgreSQL port", String(current.port), (v) =>
    /^\d{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65535 ? undefined : "a port number",
  );
  const user = await ask("Admin role (may create roles and databases)", current.user, matches(/^\S+$/, "a role name"));
  const password = await secret(`Password of ${user}`, current.password === "" ? undefined : current.password, 0);
  return { ...current, host, port: Number(port), user, password: password ?? "" };
}
