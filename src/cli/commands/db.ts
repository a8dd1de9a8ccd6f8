import { defineCommand } from "citty";
import type { BackupView, DbOperationPlan, DbOperationResponse } from "../../db/schema";
import { Invalid } from "../../errors";
import type { JobView } from "../../jobs/view";
import { confirmDestructive } from "../confirm";
import { client, type CliIo } from "../io";
import { note, printJson, printTable, formatBytes } from "../output";
import { afterEnqueue } from "./jobs";

const envArg = { type: "positional", required: true, description: "environment name" } as const;
const waitArg = { type: "boolean", description: "follow the job and render its steps until it ends" } as const;
const yesArg = { type: "boolean", alias: "y", description: "do not ask (required without a terminal)" } as const;
const keepOldArg = { type: "boolean", description: "keep the replaced database (renamed <db>_old_<token>) instead of dropping it" } as const;
const anonymizeArg = {
  type: "boolean",
  description: "anonymize the copy (default: when the data comes from production and the target is not); --no-anonymize to skip",
} as const;
const forceProductionArg = { type: "boolean", description: "allow replacing a production environment's database with another environment's data (with --yes)" } as const;

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
  if (p.anonymize) lines.push("  the copy is anonymized (every user gets the dev password) and checked for the source's e-mails and phones");
  if (p.neutralize) lines.push("  the copy is neutralized: crons and mail servers off, its own URL and database.uuid");
  lines.push(p.keepOld ? "  the current database is kept under an _old_ name" : "  the current database is dropped once the new one is healthy (--keep-old keeps it)");
  return lines;
}

/** Shows the plan (a dry run on the daemon), asks, then enqueues exactly what was shown. */
async function confirmedOperation(
  io: CliIo,
  path: string,
  body: Record<string, unknown>,
  opts: { yes: boolean; forceProduction: boolean; wait: boolean; pin: (plan: DbOperationPlan) => Record<string, unknown> },
): Promise<void> {
  const c = client(io);
  const { plan } = await c.post<DbOperationResponse>(path, { ...body, dryRun: true });
  for (const line of describePlan(plan)) note(io, line);
  const crossEnv = plan.source.slug !== plan.target.slug;
  if (plan.target.tier === "production" && crossEnv && !(opts.yes && opts.forceProduction)) {
    throw new Invalid(`refusing to replace production environment ${plan.target.slug} with ${plan.source.slug}'s data: pass --yes --force-production if that is really what you want`);
  }
  await confirmDestructive(io, {
    yes: opts.yes,
    what: `replace the database and filestore of ${plan.target.tier} environment ${plan.target.slug}`,
    typeToConfirm: plan.target.tier === "production" ? plan.target.slug : undefined,
    flagHint: "--yes",
  });
  const out = await c.post<DbOperationResponse>(path, { ...body, ...opts.pin(plan) });
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
    args: { env: envArg, limit: { type: "string", default: "20", description: "at most this many, newest first (1-1000)" } },
    async run({ args }) {
      const limit = Number(args.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new Invalid("--limit must be 1-1000");
      const list = await client(io).get<BackupView[]>(`/environments/${encodeURIComponent(args.env)}/backups?limit=${limit}`);
      if (io.globals.json) return printJson(io, list);
      printTable(
        io,
        list.map((b) => ({
          id: b.id,
          status: b.status === "failed" && b.error ? `failed: ${b.error.length > 60 ? `${b.error.slice(0, 57)}...` : b.error}` : b.status,
          size: formatBytes(b.sizeBytes),
          created: when(b.createdAt),
          expires: expires(b),
          where: where(b),
        })),
        [
          { key: "id", label: "id" },
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
    meta: { name: "restore", description: "Replace an environment's database and filestore with one of its backups (or, with --to, put it into another environment)" },
    args: {
      env: { ...envArg, description: "environment whose backup is restored" },
      backup: { type: "string", required: true, description: "backup id, or latest (see: odooops db backups <env>)" },
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

  const clone = defineCommand({
    meta: { name: "clone", description: "Replace an environment's database and filestore with a copy of another environment's" },
    args: {
      source: { ...envArg, description: "environment to copy from" },
      to: { type: "string", required: true, description: "environment to overwrite (must exist)" },
      anonymize: anonymizeArg,
      method: { type: "string", default: "auto", description: "auto (template copy when the source is idle, else a streamed dump), template or stream" },
      "keep-old": keepOldArg,
      "force-production": { ...forceProductionArg, description: "allow cloning into a production environment (with --yes)" },
      yes: yesArg,
      wait: waitArg,
    },
    async run({ args }) {
      if (!["auto", "template", "stream"].includes(args.method)) throw new Invalid(`--method must be auto, template or stream, not ${JSON.stringify(args.method)}`);
      const body = {
        from: args.source,
        method: args.method,
        keepOld: args["keep-old"] === true,
        ...(args.anonymize !== undefined ? { anonymize: args.anonymize } : {}),
        forceProduction: args["force-production"] === true,
      };
      await confirmedOperation(io, `/environments/${encodeURIComponent(args.to)}/db/clone`, body, {
        yes: args.yes === true,
        forceProduction: args["force-production"] === true,
        wait: args.wait === true,
        pin: () => ({}),
      });
    },
  });

  return defineCommand({
    meta: { name: "db", description: "Database operations: backups, restore, clone" },
    subCommands: { backup, backups, restore, clone },
  });
}
