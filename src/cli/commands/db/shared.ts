/** What the `db` subcommands share: flags, time format, and the plan-confirm-enqueue flow of restore and clone. */
import { readFileSync } from "node:fs";
import { formatBytes } from "../../../bytes";
import { Invalid, errnoText } from "../../../errors";
import type { ResponseOf } from "../../api";
import { confirmDestructive } from "../../confirm";
import type { CliIo } from "../../io";
import { note } from "../../output";
import { afterEnqueue } from "../jobs";

export const envArg = { type: "positional", required: true, description: "environment name" } as const;
export const waitArg = { type: "boolean", description: "follow the job and render its steps until it ends" } as const;
export const yesArg = { type: "boolean", alias: "y", description: "do not ask (required without a terminal)" } as const;
export const keepOldArg = {
  type: "boolean",
  description: "keep the replaced database (renamed <db>_old_<token>) instead of dropping it",
} as const;
export const anonymizeArg = {
  type: "boolean",
  description:
    "anonymize the copy (default: when the data comes from production and the target is not); --no-anonymize to skip",
} as const;
export const forceProductionArg = {
  type: "boolean",
  description: "allow replacing a production environment's database with another environment's data (with --yes)",
} as const;

export const RULES_FILE = ".odooops/anonymize.yaml";

type DbOperationResponse = ResponseOf<"post", "/environments/{name}/db/restore">;
export type DbOperationPlan = DbOperationResponse["plan"];
/**
 * Posts the operation with `extra` over its body; `shown` is the plan the user confirmed (absent
 * on the dry run), so the caller can pin what it resolved (restore's "latest").
 */
export type SendOperation = (
  extra: { dryRun?: boolean; confirm?: string },
  shown?: DbOperationPlan,
) => Promise<DbOperationResponse>;

export function readRulesFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new Invalid(`cannot read ${path}: ${errnoText(e)}`);
  }
}

/** "2025-01-02 03:04" (UTC): minutes are enough to tell backups apart in a table. */
export function when(iso: string | null): string {
  return iso ? `${iso.slice(0, 16).replace("T", " ")}Z` : "-";
}

/** What the confirmation shows: everything that will be overwritten and how. */
export function describePlan(p: DbOperationPlan): string[] {
  const t = p.target;
  const what =
    p.operation === "restore" && p.backup
      ? `backup ${p.backup.id} of ${p.source.slug} (${p.backup.kind}, ${when(p.backup.createdAt)}, ${formatBytes(p.backup.sizeBytes)}, from ${p.backup.from === "relay" ? "its host's local copy, relayed through the coordinator" : p.backup.from})`
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
  // Across hosts: where each step runs, so it shows what leaves the source's host.
  if (p.hosts) {
    const via = p.hosts.path === "relay" ? p.hosts.transfer : `through ${p.hosts.transfer}`;
    lines.push(`  across hosts: ${p.hosts.source} → ${p.hosts.target}, ${via}`);
    for (const step of p.steps) lines.push(`    ${step}`);
  }
  return lines;
}

/** Shows the plan (a dry run on the daemon), asks, then enqueues exactly what was shown. */
export async function confirmedOperation(
  io: CliIo,
  send: SendOperation,
  opts: { yes: boolean; forceProduction: boolean; wait: boolean },
): Promise<void> {
  const { plan } = await send({ dryRun: true });
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
  const out = await send({ confirm: plan.target.slug }, plan);
  if (!out.job) throw new Invalid("daemon answered without a job");
  note(io, `${plan.operation} of ${plan.target.slug} queued`);
  await afterEnqueue(io, out.job, opts.wait);
}
