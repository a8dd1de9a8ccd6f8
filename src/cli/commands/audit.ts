import { createWriteStream } from "node:fs";
import { defineCommand } from "citty";
import { AppError, Invalid } from "../../errors";
import { client, type CliIo } from "../io";
import { note, printJson, printTable } from "../output";

export class AuditChainBroken extends AppError {
  override readonly code = "audit_chain_broken";
}

const FILTERS = ["failed_auth", "denied", "production"];

export function auditCommand(io: CliIo) {
  const since = {
    type: "string",
    description: "from: a duration back from now (30m, 12h, 7d, 2w) or a date (2026-12-01)",
  } as const;
  const until = { type: "string", description: "to: same forms as --since" } as const;
  return defineCommand({
    meta: {
      name: "audit",
      description: "The audit log (admins): who did what, denied requests, job outcomes; a tamper-evident hash chain",
    },
    subCommands: {
      logs: defineCommand({
        meta: { name: "logs", description: "Audit rows, newest first" },
        args: {
          since,
          until,
          actor: { type: "string", description: "only this user (or github-webhook, ttl-sweep …)" },
          action: {
            type: "string",
            description: "an action, or its prefix before a dot (env = env.create, env.destroy …)",
          },
          filter: { type: "string", description: `failed_auth | denied | production` },
          limit: { type: "string", default: "100" },
        },
        async run({ args }) {
          if (args.filter !== undefined && !FILTERS.includes(args.filter))
            throw new Invalid(`--filter must be one of ${FILTERS.join(", ")}`);
          const limit = Number(args.limit);
          if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new Invalid("--limit must be 1-10000");
          const rows = await client(io).get("/audit/logs", {
            query: {
              since: args.since,
              until: args.until,
              actor: args.actor,
              action: args.action,
              filter: args.filter as "failed_auth" | "denied" | "production" | undefined,
              limit,
            },
          });
          if (io.globals.json) return printJson(io, rows);
          printTable(
            io,
            rows.map((r) => ({
              ...r,
              target: r.target ?? "-",
              ip: r.ip ?? "-",
              count: typeof r.details?.count === "number" ? String(r.details.count) : "",
            })),
            [
              { key: "at", label: "at" },
              { key: "actor", label: "actor" },
              { key: "action", label: "action" },
              { key: "target", label: "target" },
              { key: "outcome", label: "outcome" },
              { key: "count", label: "count" },
              { key: "ip", label: "ip" },
            ],
          );
        },
      }),
      verify: defineCommand({
        meta: {
          name: "verify",
          description:
            "Check the hash chain: exits 1 and names the first row where it breaks (a row edited, deleted or inserted around odooops)",
        },
        async run() {
          const out = await client(io).get("/audit/verify");
          if (!out.ok) {
            // The schema keeps brokenAt optional (absent when ok); a broken chain always names it.
            const b = out.brokenAt;
            const where = `row ${b?.id ?? "?"} (seq ${b?.seq ?? "none"}, ${b?.at ?? "?"})`;
            throw new AuditChainBroken(
              `audit chain broken at ${where}: ${out.reason}; ${out.rows} row(s) before it verified`,
              out,
            );
          }
          if (io.globals.json) return printJson(io, out);
          note(
            io,
            `audit chain ok: ${out.rows} row(s)${out.head ? `, head seq ${out.head.seq} hash ${out.head.hash}` : ""}`,
          );
        },
      }),
      export: defineCommand({
        meta: {
          name: "export",
          description:
            "Audit rows as JSON lines (oldest first, with their hashes) to stdout, a file, or the backup bucket",
        },
        args: {
          since,
          until,
          output: { type: "string", alias: "o", description: "write to this file instead of stdout" },
          to: { type: "string", description: "s3: upload to the configured backup bucket (backups.s3)" },
        },
        async run({ args }) {
          if (args.to !== undefined && args.to !== "s3") throw new Invalid("--to accepts only s3");
          if (args.to && args.output) throw new Invalid("give --to s3 or --output, not both");
          if (args.to === "s3") {
            const out = await client(io).post("/audit/export", {
              body: { since: args.since, until: args.until, to: "s3" },
            });
            if (io.globals.json) return printJson(io, out);
            return note(io, `exported ${out.rows} audit row(s) to s3://${out.bucket}/${out.key}`);
          }
          const chunks = client(io).text("/audit/export", { query: { since: args.since, until: args.until } });
          if (!args.output) {
            for await (const chunk of chunks) io.stdout(chunk);
            return;
          }
          const file = createWriteStream(args.output, { flags: "wx", mode: 0o600 });
          const opened = new Promise<void>((resolve, reject) =>
            file.once("open", () => resolve()).once("error", reject),
          );
          await opened.catch((e: NodeJS.ErrnoException) => {
            throw new Invalid(`cannot create ${args.output}: ${e.code ?? e.message}`);
          });
          for await (const chunk of chunks) if (!file.write(chunk)) await new Promise((r) => file.once("drain", r));
          await new Promise<void>((resolve, reject) => file.end((e?: Error | null) => (e ? reject(e) : resolve())));
          note(io, `wrote ${args.output}`);
        },
      }),
    },
  });
}
