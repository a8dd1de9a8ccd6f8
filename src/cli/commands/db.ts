import { defineCommand } from "citty";
import type {
  AnonymizationPreview,
  AnonymizeDetectReport,
  AnonymizeRulesCheck,
  BackupView,
  DbOperationPlan,
  DbOperationResponse,
  ExportView,
} from "../../db/schema";
import { DUMP_HAS_NO_FILESTORE, looksLikeZip } from "../../db/import-notes";
import { createWriteStream, existsSync, readFileSync } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { Writable } from "node:stream";
import { AppError, Conflict, Invalid, NotFound, Unauthorized } from "../../errors";
import type { JobView } from "../../jobs/view";
import { stringify } from "yaml";
import { confirmDestructive } from "../confirm";
import { resolveCredentials } from "../credentials";
import { client, type CliIo } from "../io";
import { formatBytes } from "../../bytes";
import { AlreadyReported, note, printJson, printTable } from "../output";
import { followJob } from "../progress";
import { tarMembers, tarStream } from "../tar-dir";
import { afterEnqueue, reportJob } from "./jobs";

const envArg = { type: "positional", required: true, description: "environment name" } as const;
const waitArg = { type: "boolean", description: "follow the job and render its steps until it ends" } as const;
const yesArg = { type: "boolean", alias: "y", description: "do not ask (required without a terminal)" } as const;
const keepOldArg = {
  type: "boolean",
  description: "keep the replaced database (renamed <db>_old_<token>) instead of dropping it",
} as const;
const anonymizeArg = {
  type: "boolean",
  description:
    "anonymize the copy (default: when the data comes from production and the target is not); --no-anonymize to skip",
} as const;
const forceProductionArg = {
  type: "boolean",
  description: "allow replacing a production environment's database with another environment's data (with --yes)",
} as const;

const RULES_FILE = ".odooops/anonymize.yaml";

function readRulesFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new Invalid(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** "2025-01-02 03:04" (UTC): minutes are enough to tell backups apart in a table. */
function when(iso: string | null): string {
  return iso ? `${iso.slice(0, 16).replace("T", " ")}Z` : "-";
}

function expires(b: BackupView): string {
  if (b.status === "expired") return `deleted ${when(b.expiresAt)}`;
  if (b.expiresAt) return when(b.expiresAt);
  if (b.keptFor.length > 0) return `kept (${b.keptFor.join(", ")})`;
  return "next backup";
}

function where(b: BackupView): string {
  const at = [b.location.local ? "local" : null, b.location.s3 ? "s3" : null].filter(Boolean);
  return at.length > 0 ? at.join("+") : "-";
}

/**
 * The two routes whose bodies are files, not JSON (ApiClient speaks JSON and SSE only): same
 * base URL and token, the server's JSON error turned back into the matching typed error.
 */
/** Sends the filestore (a directory as a tar stream, or the tar as is); the daemon checks it and returns its id. */
async function uploadFilestore(io: CliIo, slug: string, path: string, dir: boolean): Promise<string> {
  let body: ReadableStream<Uint8Array> | Blob = Bun.file(path);
  if (dir) {
    const { members, skipped } = tarMembers(path);
    for (const s of skipped) io.stderr(`warning: ${join(path, s)} is not a regular file or directory: left out\n`);
    body = tarStream(members);
  }
  const res = await rawRequest(io, `/environments/${encodeURIComponent(slug)}/db/import/filestore`, {
    method: "POST",
    body,
    headers: { "content-type": "application/octet-stream" },
  });
  const out = (await res.json()) as { filestore: string; entries: number; bytes: number };
  note(io, `  filestore uploaded and checked: ${out.entries} entries, ${formatBytes(out.bytes)}`);
  return out.filestore;
}

async function rawRequest(io: CliIo, path: string, init: RequestInit): Promise<Response> {
  const { url, token } = resolveCredentials(io.globals, io.env);
  const res = await (io.fetch ?? fetch)(`${url.replace(/\/+$/, "")}/api/v1${path}`, {
    ...init,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(init.headers as Record<string, string> | undefined),
    },
  });
  if (res.ok) return res;
  const text = await res.text();
  let message = text.slice(0, 200) || `HTTP ${res.status}`;
  try {
    message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? message;
  } catch {
    // not JSON: the raw text above says what went wrong
  }
  if (res.status === 400 || res.status === 413) throw new Invalid(message);
  if (res.status === 401) throw new Unauthorized(message);
  if (res.status === 404) throw new NotFound(message);
  if (res.status === 409) throw new Conflict(message);
  throw new AppError(message);
}

/** "20250102-030405" (UTC), for default export file names. */
function stamp(d = new Date()): string {
  return d.toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-");
}

/** Streams a download to `out` (via `<out>.partial`), checking its length against the server's. */
async function download(io: CliIo, path: string, out: string): Promise<number> {
  const res = await rawRequest(io, path, { method: "GET" });
  if (!res.body) throw new AppError(`the daemon sent no body for ${path}`);
  const partial = `${out}.partial`;
  try {
    await res.body.pipeTo(Writable.toWeb(createWriteStream(partial, { mode: 0o600 })));
    const bytes = (await stat(partial)).size;
    const expected = Number(res.headers.get("content-length") ?? bytes);
    if (bytes !== expected)
      throw new AppError(`download of ${path} was cut short (${bytes} of ${expected} bytes); run the export again`);
    await rename(partial, out);
    return bytes;
  } catch (e) {
    await rm(partial, { force: true });
    throw e;
  }
}

interface MigrationResult {
  image: string;
  update: { name: string; from: string | null; to: string | null; reason: string }[];
  modules: string[];
}

function printMigration(io: CliIo, env: string, m: MigrationResult): void {
  if (m.update.length === 0) {
    note(io, `${env}: nothing to update, every installed module matches ${m.image}`);
    return;
  }
  note(io, `${env}: ${m.update.length} module(s) to update from ${m.image}`);
  printTable(
    io,
    m.update.map((u) => ({ module: u.name, from: u.from ?? "-", to: u.to ?? "-", why: u.reason })),
    [
      { key: "module", label: "module" },
      { key: "from", label: "from" },
      { key: "to", label: "to" },
      { key: "why", label: "why" },
    ],
  );
}

/** What the confirmation shows: everything that will be overwritten and how. */
function describePlan(p: DbOperationPlan): string[] {
  const t = p.target;
  const what =
    p.operation === "restore" && p.backup
      ? `backup ${p.backup.id} of ${p.source.slug} (${p.backup.kind}, ${when(p.backup.createdAt)}, ${formatBytes(p.backup.sizeBytes)}, from ${p.backup.from})`
      : `a copy of ${p.source.tier} environment ${p.source.slug}${p.method && p.method !== "auto" ? ` (${p.method})` : ""}`;
  const lines = [
    `${p.operation}: the database ${t.dbName} and the filestore of ${t.tier} environment ${t.slug} (${t.url}, ${t.status}) will be replaced by ${what}`,
  ];
  if (p.preBackup) lines.push("  a backup of the current database is taken first (pre_restore)");
  if (p.anonymize)
    lines.push(
      "  the copy is anonymized (every user gets the dev password) and checked for the source's e-mails and phones",
    );
  if (p.neutralize) lines.push("  the copy is neutralized: crons and mail servers off, its own URL and database.uuid");
  lines.push(
    p.keepOld
      ? "  the current database is kept under an _old_ name"
      : "  the current database is dropped once the new one is healthy (--keep-old keeps it)",
  );
  return lines;
}

/** Per table: rows in the source, and each rule's column with the rows it would change. */
function printPreview(io: CliIo, a: AnonymizationPreview): void {
  note(io, `  anonymization rules, lowest first: ${a.sources.join(" < ")}`);
  printTable(
    io,
    a.tables.flatMap((t) =>
      t.columns.map((c, i) => ({
        table: i === 0 ? t.table : "",
        rows: i === 0 ? String(t.rows) : "",
        column: c.column,
        rule: c.rule,
        changed: String(c.rows),
      })),
    ),
    [
      { key: "table", label: "table" },
      { key: "rows", label: "rows" },
      { key: "column", label: "column" },
      { key: "rule", label: "rule" },
      { key: "changed", label: "rows changed" },
    ],
  );
  if (a.skipped.length > 0) note(io, `  not in the source (skipped): ${a.skipped.join(", ")}`);
}

/** Shows the plan (a dry run on the daemon), asks, then enqueues exactly what was shown. */
async function confirmedOperation(
  io: CliIo,
  path: string,
  body: Record<string, unknown>,
  opts: {
    yes: boolean;
    forceProduction: boolean;
    wait: boolean;
    pin: (plan: DbOperationPlan) => Record<string, unknown>;
  },
): Promise<void> {
  const c = client(io);
  const { plan } = await c.post<DbOperationResponse>(path, { ...body, dryRun: true });
  for (const line of describePlan(plan)) note(io, line);
  const crossEnv = plan.source.slug !== plan.target.slug;
  if (plan.target.tier === "production" && crossEnv && !(opts.yes && opts.forceProduction)) {
    throw new Invalid(
      `refusing to replace production environment ${plan.target.slug} with ${plan.source.slug}'s data: pass --yes --force-production if that is really what you want`,
    );
  }
  await confirmDestructive(io, {
    yes: opts.yes,
    what: `replace the database and filestore of ${plan.target.tier} environment ${plan.target.slug}`,
    typeToConfirm: plan.target.tier === "production" ? plan.target.slug : undefined,
    flagHint: "--yes",
  });
  // The server refuses production without its name again; it is sent only after the confirmation above.
  const out = await c.post<DbOperationResponse>(path, { ...body, ...opts.pin(plan), confirm: plan.target.slug });
  if (!out.job) throw new Invalid("daemon answered without a job");
  note(io, `${plan.operation} of ${plan.target.slug} queued`);
  await afterEnqueue(io, out.job, opts.wait);
}

export function dbCommand(io: CliIo) {
  const backup = defineCommand({
    meta: { name: "backup", description: "Back up an environment's database and filestore, then apply retention" },
    args: { env: envArg, wait: { type: "boolean", description: "follow the job and render its steps until it ends" } },
    async run({ args }) {
      const job = await client(io).post<JobView>(`/environments/${encodeURIComponent(args.env)}/backups`);
      note(io, `backing up ${job.target ?? args.env}`);
      await afterEnqueue(io, job, args.wait === true);
    },
  });

  const backups = defineCommand({
    meta: { name: "backups", description: "An environment's backups: status, size, created, expiry, where" },
    args: {
      env: envArg,
      limit: { type: "string", default: "20", description: "at most this many, newest first (1-1000)" },
      "include-destroyed": {
        type: "boolean",
        description: "also the backups of destroyed environments that had this name (restore one with --to)",
      },
    },
    async run({ args }) {
      const limit = Number(args.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new Invalid("--limit must be 1-1000");
      const destroyed = args["include-destroyed"] === true;
      const list = await client(io).get<BackupView[]>(
        `/environments/${encodeURIComponent(args.env)}/backups?limit=${limit}${destroyed ? "&includeDestroyed=true" : ""}`,
      );
      if (io.globals.json) return printJson(io, list);
      printTable(
        io,
        list.map((b) => ({
          id: b.id,
          ...(destroyed ? { env: b.envDestroyedAt ? `${b.env} (destroyed ${when(b.envDestroyedAt)})` : b.env } : {}),
          status:
            b.status === "failed" && b.error
              ? `failed: ${b.error.length > 60 ? `${b.error.slice(0, 57)}...` : b.error}`
              : b.status,
          size: formatBytes(b.sizeBytes),
          created: when(b.createdAt),
          expires: expires(b),
          where: where(b),
        })),
        [
          { key: "id", label: "id" },
          ...(destroyed ? [{ key: "env", label: "env" }] : []),
          { key: "status", label: "status" },
          { key: "size", label: "size" },
          { key: "created", label: "created" },
          { key: "expires", label: "expires" },
          { key: "where", label: "where" },
        ],
      );
    },
  });

  const restore = defineCommand({
    meta: {
      name: "restore",
      description:
        "Replace an environment's database and filestore with one of its backups (or, with --to, put it into another environment)",
    },
    args: {
      env: { ...envArg, description: "environment whose backup is restored" },
      backup: {
        type: "string",
        required: true,
        description:
          "backup id, or latest (see: odooops db backups <env> [--include-destroyed]); a destroyed env's backup needs --to",
      },
      to: { type: "string", description: "restore into this environment instead (neutralized unless production)" },
      "keep-old": keepOldArg,
      anonymize: anonymizeArg,
      "force-production": forceProductionArg,
      yes: yesArg,
      wait: waitArg,
    },
    async run({ args }) {
      const target = args.to ?? args.env;
      const body = {
        backup: args.backup,
        ...(args.to !== undefined ? { from: args.env } : {}),
        keepOld: args["keep-old"] === true,
        ...(args.anonymize !== undefined ? { anonymize: args.anonymize } : {}),
        forceProduction: args["force-production"] === true,
      };
      await confirmedOperation(io, `/environments/${encodeURIComponent(target)}/db/restore`, body, {
        yes: args.yes === true,
        forceProduction: args["force-production"] === true,
        wait: args.wait === true,
        // "latest" could change between the question and the answer: restore what was shown.
        pin: (plan) => (plan.backup ? { backup: plan.backup.id } : {}),
      });
    },
  });

  const rotateCredentials = defineCommand({
    meta: {
      name: "rotate-credentials",
      description:
        "A new PostgreSQL password for an env's role (or --all envs'), odoo.conf rewritten, Odoo restarted on it (admins)",
    },
    args: {
      env: { ...envArg, required: false },
      all: { type: "boolean", description: "every active or stopped environment, one job each" },
      wait: waitArg,
    },
    async run({ args }) {
      if ((args.all === true) === (args.env !== undefined)) throw new Invalid("give an environment or --all");
      const c = client(io);
      const names =
        args.env !== undefined
          ? [args.env]
          : (await c.get<{ slug: string; status: string }[]>("/environments"))
              .filter((e) => e.status === "active" || e.status === "stopped")
              .map((e) => e.slug);
      for (const name of names) {
        const job = await c.post<JobView>(`/environments/${encodeURIComponent(name)}/db/rotate-credentials`);
        note(
          io,
          `rotating the database credentials of ${job.target ?? name} (Odoo restarts: a few seconds without answers)`,
        );
        await afterEnqueue(io, job, args.wait === true);
      }
      if (names.length === 0) note(io, "no active or stopped environment");
    },
  });

  const clone = defineCommand({
    meta: {
      name: "clone",
      description: "Replace an environment's database and filestore with a copy of another environment's",
    },
    args: {
      source: { ...envArg, description: "environment to copy from" },
      to: { type: "string", required: true, description: "environment to overwrite (must exist)" },
      anonymize: anonymizeArg,
      method: {
        type: "string",
        default: "auto",
        description: "auto (template copy when the source is idle, else a streamed dump), template or stream",
      },
      "keep-old": keepOldArg,
      "force-production": {
        ...forceProductionArg,
        description: "allow cloning into a production environment (with --yes)",
      },
      rules: {
        type: "string",
        description:
          "an anonymization rules file for this run only, merged over the host's and the project's (checked by the daemon first)",
      },
      "dry-run": {
        type: "boolean",
        description:
          "show the plan and, per table, how many rows and which columns each anonymization rule would change; change nothing",
      },
      yes: yesArg,
      wait: waitArg,
    },
    async run({ args }) {
      if (!["auto", "template", "stream"].includes(args.method))
        throw new Invalid(`--method must be auto, template or stream, not ${JSON.stringify(args.method)}`);
      const body = {
        from: args.source,
        method: args.method,
        keepOld: args["keep-old"] === true,
        ...(args.anonymize !== undefined ? { anonymize: args.anonymize } : {}),
        forceProduction: args["force-production"] === true,
        ...(args.rules !== undefined ? { rules: { text: readRulesFile(args.rules), file: args.rules } } : {}),
      };
      if (args["dry-run"] === true) {
        const out = await client(io).post<DbOperationResponse>(
          `/environments/${encodeURIComponent(args.to)}/db/clone`,
          { ...body, dryRun: true, preview: true },
        );
        if (io.globals.json) return printJson(io, out.plan);
        for (const line of describePlan(out.plan)) note(io, line);
        if (out.plan.anonymization) printPreview(io, out.plan.anonymization);
        return note(io, "dry run: nothing was changed");
      }
      await confirmedOperation(io, `/environments/${encodeURIComponent(args.to)}/db/clone`, body, {
        yes: args.yes === true,
        forceProduction: args["force-production"] === true,
        wait: args.wait === true,
        pin: () => ({}),
      });
    },
  });

  const migrate = defineCommand({
    meta: {
      name: "migrate",
      description:
        "List the modules whose installed version differs from the serving image's, then update them (-u) and restart",
    },
    args: {
      env: envArg,
      "dry-run": { type: "boolean", description: "only list what would be updated" },
      wait: waitArg,
    },
    async run({ args }) {
      const c = client(io);
      const path = `/environments/${encodeURIComponent(args.env)}/db/migrate`;
      // The plan needs the env's image and database, which only the daemon's side reaches: a dry-run job.
      const planned = await followJob(io, c, (await c.post<JobView>(path, { dryRun: true })).id);
      if (planned.status !== "succeeded") return reportJob(io, planned);
      const plan = planned.result as unknown as MigrationResult;
      const dryRun = args["dry-run"] === true;
      if (dryRun || plan.modules.length === 0) {
        if (io.globals.json) return printJson(io, plan);
        return printMigration(io, args.env, plan);
      }
      if (!io.globals.json) printMigration(io, args.env, plan);
      const job = await c.post<JobView>(path, { dryRun: false });
      note(io, `migration of ${job.target ?? args.env} queued`);
      await afterEnqueue(io, job, args.wait === true);
    },
  });

  const exportDb = defineCommand({
    meta: {
      name: "export",
      description: "Download the database and filestore as the zip Odoo's database manager and Odoo.sh import",
    },
    args: {
      env: envArg,
      out: { type: "string", description: "file to write (default: <env>-<UTC time>.zip in the current directory)" },
    },
    async run({ args }) {
      const out = resolve(args.out ?? `${args.env}-${stamp()}.zip`);
      if (
        await stat(out).then(
          () => true,
          () => false,
        )
      )
        throw new Conflict(`${out} already exists; choose another --out or remove it`);
      const c = client(io);
      const job = await followJob(
        io,
        c,
        (await c.post<JobView>(`/environments/${encodeURIComponent(args.env)}/db/export`)).id,
      );
      if (job.status !== "succeeded") return reportJob(io, job);
      const path = String(job.result?.download);
      const bytes = await download(io, path, out);
      // The daemon keeps no copy: the file now lives where the user asked for it.
      await c.delete(path);
      if (io.globals.json) return printJson(io, { file: out, bytes, job: job.id });
      note(io, `exported ${args.env} to ${out} (${formatBytes(bytes)})`);
    },
  });

  const exports = defineCommand({
    meta: {
      name: "exports",
      description:
        "Exports still on the daemon's host (never downloaded), with when they expire; --clean deletes the expired ones now",
    },
    args: {
      clean: {
        type: "boolean",
        description: "delete the expired exports now instead of waiting for the exports.sweep schedule",
      },
      all: { type: "boolean", description: "with --clean: delete every finished export, expired or not" },
    },
    async run({ args }) {
      if (args.all === true && args.clean !== true) throw new Invalid("--all only goes with --clean");
      const c = client(io);
      const list =
        args.clean === true
          ? await c.post<ExportView[]>("/exports/clean", { all: args.all === true })
          : await c.get<ExportView[]>("/exports");
      if (io.globals.json) return printJson(io, list);
      if (args.clean === true)
        note(
          io,
          `deleted ${list.length} export${list.length === 1 ? "" : "s"} (${formatBytes(list.reduce((n, e) => n + e.bytes, 0))})`,
        );
      printTable(
        io,
        list.map((e) => ({
          id: e.id,
          env: e.env ?? "-",
          size: formatBytes(e.bytes),
          written: when(e.writtenAt),
          expires: when(e.expiresAt),
          by: e.createdBy ?? "-",
        })),
        [
          { key: "id", label: "id" },
          { key: "env", label: "env" },
          { key: "size", label: "size" },
          { key: "written", label: "written" },
          { key: "expires", label: "expires" },
          { key: "by", label: "by" },
        ],
      );
    },
  });

  const anonymizeRules = defineCommand({
    meta: {
      name: "anonymize-rules",
      description: `Check a project's anonymization rules (default ${RULES_FILE} here) and print the rules a copy would get; exit 1 with every problem. --detect ENV: list ENV's columns that look personal and no rule covers`,
    },
    args: {
      file: {
        type: "string",
        description: `the file to check (default ${RULES_FILE}; when that is absent, the shipped defaults are shown)`,
      },
      detect: {
        type: "string",
        description:
          "an environment: list the columns of its database that look personal (by name or by a sample of rows) and that no rule covers",
      },
    },
    async run({ args }) {
      if (args.detect !== undefined) {
        if (args.file !== undefined)
          throw new Invalid(
            "--detect checks the rules a copy of the environment gets (host file and project file); it takes no --file",
          );
        const r = await client(io).get<AnonymizeDetectReport>(
          `/environments/${encodeURIComponent(args.detect)}/db/anonymize-detect`,
        );
        if (io.globals.json) return printJson(io, r);
        note(
          io,
          `${args.detect}: ${r.findings.length} column(s) look personal and no rule covers them (${r.columnsScanned} uncovered text columns of ${r.tablesScanned} tables, first ${r.sampleRows} rows of each sampled)`,
        );
        note(io, `rules, lowest first: ${r.sources.join(" < ")}`);
        if (r.findings.length > 0) {
          printTable(
            io,
            r.findings.map((f) => ({ column: `${f.table}.${f.column}`, type: f.type, why: f.reasons.join("; ") })),
            [
              { key: "column", label: "column" },
              { key: "type", label: "type" },
              { key: "why", label: "why" },
            ],
          );
          note(
            io,
            `add a rule for each (or list it under piiCheck.exclude knowingly) in ${RULES_FILE} or the host's anonymize.rulesFile`,
          );
        }
        return;
      }
      const file = args.file ?? RULES_FILE;
      const absent = args.file === undefined && !existsSync(file);
      const v = await client(io).post<AnonymizeRulesCheck>("/anonymize-rules/validate", {
        text: absent ? "" : readRulesFile(file),
        file,
      });
      if (io.globals.json) printJson(io, v);
      else if (v.ok) {
        note(
          io,
          absent
            ? `no ${file} here: the shipped defaults (templates/anonymize-default.yaml)`
            : `${file}: valid; the rules a copy gets (the shipped defaults with ${file} over them):`,
        );
        io.stdout(stringify(v.rules));
      } else io.stderr(`${v.problems.join("\n")}\n`);
      if (!v.ok) throw new AlreadyReported(`${file}: ${v.problems.length} problem(s)`);
    },
  });

  const importDb = defineCommand({
    meta: {
      name: "import",
      description:
        "Replace an environment's database and filestore with an Odoo export zip (dump.sql, filestore/, manifest.json) or a pg_dump -Fc .dump",
    },
    args: {
      env: envArg,
      file: { type: "positional", required: true, description: "the .zip or .dump to import" },
      filestore: {
        type: "string",
        description: "with a .dump: the database's filestore, a directory (its ab/ab12… files) or a tar of it",
      },
      neutralize: {
        type: "boolean",
        description:
          "neutralize the imported database (default: unless production); --no-neutralize to keep crons and mail servers as they are",
      },
      "keep-old": keepOldArg,
      "force-production": {
        ...forceProductionArg,
        description: "allow importing into a production environment (with --yes)",
      },
      yes: yesArg,
      wait: waitArg,
    },
    async run({ args }) {
      const file = resolve(args.file);
      const size = await stat(file).then(
        (s) => (s.isFile() ? s.size : null),
        () => null,
      );
      if (size === null) throw new Invalid(`${file} is not a readable file`);
      const c = client(io);
      const env = await c.get<{ slug: string; tier: string; status: string }>(
        `/environments/${encodeURIComponent(args.env)}`,
      );
      const production = env.tier === "production";
      const neutralize = args.neutralize ?? !production;
      note(
        io,
        `import: the database and the filestore of ${env.tier} environment ${env.slug} (${env.status}) will be replaced by ${file} (${formatBytes(size)})`,
      );
      if (production) note(io, "  a backup of the current database is taken first (pre_restore)");
      if (neutralize)
        note(io, "  the import is neutralized: crons and mail servers off, its own URL and database.uuid");
      note(
        io,
        args["keep-old"] === true
          ? "  the current database is kept under an _old_ name"
          : "  the current database is dropped once the new one is healthy (--keep-old keeps it)",
      );
      const zip = await looksLikeZip(file);
      const filestore = args.filestore === undefined ? null : resolve(args.filestore);
      if (filestore !== null && zip)
        throw new Invalid("--filestore goes with a .dump: an Odoo export zip carries its own filestore");
      if (!zip && filestore === null) io.stderr(`warning: ${DUMP_HAS_NO_FILESTORE}; add it with --filestore DIR|TAR\n`);
      const filestoreKind =
        filestore === null
          ? null
          : await stat(filestore).then(
              (s) => (s.isDirectory() ? "dir" : s.isFile() ? "tar" : null),
              () => null,
            );
      if (filestore !== null && filestoreKind === null)
        throw new Invalid(`${filestore} is neither a directory nor a readable file`);
      if (filestore !== null) note(io, `  the filestore comes from ${filestore}`);
      if (production && !(args.yes === true && args["force-production"] === true)) {
        throw new Invalid(
          `refusing to replace production environment ${env.slug} with an import: pass --yes --force-production if that is really what you want`,
        );
      }
      await confirmDestructive(io, {
        yes: args.yes === true,
        what: `replace the database and filestore of ${env.tier} environment ${env.slug}`,
        typeToConfirm: production ? env.slug : undefined,
        flagHint: "--yes",
      });
      const q = new URLSearchParams({
        neutralize: String(neutralize),
        keepOld: String(args["keep-old"] === true),
        forceProduction: String(args["force-production"] === true),
        confirm: env.slug,
      });
      if (filestore !== null)
        q.set("filestore", await uploadFilestore(io, env.slug, filestore, filestoreKind === "dir"));
      const res = await rawRequest(io, `/environments/${encodeURIComponent(env.slug)}/db/import?${q}`, {
        method: "POST",
        body: Bun.file(file),
        headers: { "content-type": "application/octet-stream" },
      });
      const job = (await res.json()) as JobView;
      note(io, `import into ${env.slug} queued`);
      await afterEnqueue(io, job, args.wait === true);
    },
  });

  return defineCommand({
    meta: { name: "db", description: "Database operations: backups, restore, clone, migrate, export, import" },
    subCommands: {
      backup,
      backups,
      restore,
      "rotate-credentials": rotateCredentials,
      clone,
      migrate,
      export: exportDb,
      exports,
      import: importDb,
      "anonymize-rules": anonymizeRules,
    },
  });
}
