import { defineCommand } from "citty";
import { AppError, Invalid } from "../../errors";
import type { JobView } from "../../jobs/view";
import { TERMINAL } from "../../jobs/status";
import { client, type CliIo } from "../io";
import { formatDuration, note, printJson, printTable } from "../output";
import { followJob } from "../progress";

export class JobFailed extends AppError {
  override readonly code = "job_failed";
}

const SECRET_LABELS: Record<string, string> = { adminPassword: "Odoo admin password" };

/** Secrets a job hands its creator once (result.secrets): to stdout, since they are the command's answer. */
function printSecrets(io: CliIo, job: JobView): void {
  const secrets = job.result?.secrets;
  if (!secrets || typeof secrets !== "object") return;
  const login = typeof job.result?.adminLogin === "string" ? job.result.adminLogin : null;
  for (const [key, value] of Object.entries(secrets)) {
    const label = SECRET_LABELS[key] ?? key;
    io.stdout(`${label}${key === "adminPassword" && login ? ` (login ${login})` : ""}: ${String(value)}\n`);
  }
  note(io, "shown once; an admin reads it again with: odooops env get NAME --show-admin-password");
}

/** Prints a finished job; a failed or cancelled job makes the command fail (exit 1). */
export function reportJob(io: CliIo, job: JobView): void {
  if (io.globals.json) printJson(io, job);
  else if (job.status === "succeeded") {
    note(io, `${job.kind} ${job.target ?? ""} succeeded (job ${job.id})`);
    printSecrets(io, job);
  }
  if (job.status === "failed" || job.status === "cancelled") {
    throw new JobFailed(
      `job ${job.id} ${job.status}${job.error ? `: ${job.error}` : ""}\n  logs: odooops jobs logs ${job.id}`,
    );
  }
}

/** After enqueueing: follow with --wait, else print the id and how to follow. */
export async function afterEnqueue(io: CliIo, job: JobView, wait: boolean): Promise<void> {
  if (wait) return reportJob(io, await followJob(io, client(io), job.id));
  if (io.globals.json) return printJson(io, job);
  io.stdout(`${job.id}\n`);
  if (job.blockedBy)
    note(
      io,
      `queued behind job ${job.blockedBy.id} (${job.blockedBy.kind} on ${job.blockedBy.target ?? "-"}, ${job.blockedBy.status})`,
    );
  note(io, `follow with: odooops jobs wait ${job.id}   (or: odooops jobs logs ${job.id} -f)`);
}

/**
 * A job's log from the start, all of it: the server answers in pages (256 KiB), so pages are
 * asked for until one comes back empty. With `follow`, then polls until the job ends.
 */
export async function printJobLog(io: CliIo, jobId: string, follow: boolean): Promise<void> {
  const c = client(io);
  let offset = 0;
  for (;;) {
    const chunk = await c.get("/jobs/{id}/log", { params: { id: jobId }, query: { offset } });
    io.stdout(chunk.text);
    offset = chunk.nextOffset;
    if (chunk.text !== "") continue;
    if (!follow || TERMINAL.has(chunk.status)) break;
    await Bun.sleep(500);
  }
}

function showJob(io: CliIo, job: JobView) {
  io.stdout(
    `job ${job.id}  ${job.kind}  ${job.target ?? ""}\nstatus: ${job.status}${job.error ? `\nerror: ${job.error}` : ""}\n`,
  );
  if (job.blockedBy)
    io.stdout(
      `waiting for: job ${job.blockedBy.id} (${job.blockedBy.kind} on ${job.blockedBy.target ?? "-"}, ${job.blockedBy.status} since ${job.blockedBy.startedAt ?? "-"})\n`,
    );
  if (job.waitingForHost) io.stdout(`${job.waitingForHost}\n`);
  for (const s of job.steps) {
    const dur = s.durationMs === null ? "" : ` (${formatDuration(s.durationMs)})`;
    io.stdout(`  ${s.status.padEnd(8)} ${s.title}${dur}${s.error ? `\n           ${s.error.split("\n")[0]}` : ""}\n`);
  }
  printSecrets(io, job);
}

export function jobsCommand(io: CliIo) {
  const id = { type: "positional", required: true, description: "job id" } as const;
  return defineCommand({
    meta: { name: "jobs", description: "Follow jobs: list, show, logs, wait, cancel" },
    subCommands: {
      list: defineCommand({
        meta: { name: "list", description: "Recent jobs" },
        args: { status: { type: "string" }, limit: { type: "string", default: "20" } },
        async run({ args }) {
          const limit = Number(args.limit);
          if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new Invalid("--limit must be 1-1000");
          const status = args.status ? (args.status as JobView["status"]) : undefined;
          const jobs = await client(io).get("/jobs", { query: { limit, status } });
          if (io.globals.json) return printJson(io, jobs);
          printTable(
            io,
            jobs.map((j) => ({ ...j, status: j.waitingForHost ? `${j.status}, ${j.waitingForHost}` : j.status })),
            [
              { key: "id", label: "id" },
              { key: "kind", label: "kind" },
              { key: "target", label: "target" },
              { key: "createdAt", label: "created" },
              // Last: the reason a queued job waits can be long.
              { key: "status", label: "status" },
            ],
          );
        },
      }),
      show: defineCommand({
        meta: { name: "show", description: "A job with its steps (and what it waits for)" },
        args: { id },
        async run({ args }) {
          const job = await client(io).get("/jobs/{id}", { params: { id: args.id } });
          if (io.globals.json) printJson(io, job);
          else showJob(io, job);
        },
      }),
      logs: defineCommand({
        meta: { name: "logs", description: "A job's log; -f follows it until the job ends" },
        args: { id, follow: { type: "boolean", alias: "f" } },
        async run({ args }) {
          await printJobLog(io, args.id, args.follow === true);
        },
      }),
      wait: defineCommand({
        meta: { name: "wait", description: "Render the job's steps until it ends; exit 1 if it failed" },
        args: { id },
        async run({ args }) {
          reportJob(io, await followJob(io, client(io), args.id));
        },
      }),
      cancel: defineCommand({
        meta: { name: "cancel", description: "Cancel a queued or running job" },
        args: { id },
        async run({ args }) {
          const job = await client(io).post("/jobs/{id}/cancel", { params: { id: args.id } });
          if (io.globals.json) printJson(io, job);
          else note(io, `job ${job.id}: ${job.status}`);
        },
      }),
    },
  });
}
