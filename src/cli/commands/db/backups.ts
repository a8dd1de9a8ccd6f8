import { defineCommand } from "citty";
import { formatBytes } from "../../../bytes";
import { Invalid } from "../../../errors";
import type { ResponseOf } from "../../api";
import { client, type CliIo } from "../../io";
import { printJson, printTable } from "../../output";
import { envArg, when } from "./shared";

type BackupView = ResponseOf<"get", "/environments/{name}/backups">[number];

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

export function backupsCommand(io: CliIo) {
  return defineCommand({
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
      const list = await client(io).get("/environments/{name}/backups", {
        params: { name: args.env },
        query: { limit, includeDestroyed: destroyed ? "true" : undefined },
      });
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
}
