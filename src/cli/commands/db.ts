import { defineCommand } from "citty";
import type { BackupView } from "../../db/schema";
import { Invalid } from "../../errors";
import type { JobView } from "../../jobs/view";
import { client, type CliIo } from "../io";
import { note, printJson, printTable } from "../output";
import { afterEnqueue } from "./jobs";

const envArg = { type: "positional", required: true, description: "environment name" } as const;

function bytes(n: number | null): string {
  if (n === null) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 && i > 0 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
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
          size: bytes(b.sizeBytes),
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

  return defineCommand({
    meta: { name: "db", description: "Database operations: backups" },
    subCommands: { backup, backups },
  });
}
