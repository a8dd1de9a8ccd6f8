/**
 * `--wait`: follows a job's event stream and renders each step as it finishes,
 * `✓ Provisioning database... (30s)`; a clack spinner for the running step on a TTY.
 */
import type { JobStepView, JobStreamEvent, JobView } from "../jobs/view";
import { TERMINAL } from "../jobs/status";
import type { ApiClient } from "./client";
import type { CliIo } from "./io";
import { formatDuration, note } from "./output";

type Spinner = { start(msg: string): void; stop(msg: string): void; message(msg: string): void };

const mark: Partial<Record<JobStepView["status"], string>> = { done: "✓", failed: "✗", skipped: "-", undone: "↺" };

export async function followJob(io: CliIo, client: ApiClient, jobId: string): Promise<JobView> {
  const spinner: Spinner | null =
    io.interactive && !io.globals.quiet ? (await import("@clack/prompts")).spinner() : null;
  let job = null as JobView | null;
  const printed = new Set<string>();
  let running: string | null = null;
  let announcedWait = false;

  const finishLine = (s: JobStepView) => {
    const key = `${s.idx}:${s.status}`;
    if (printed.has(key) || !mark[s.status]) return;
    printed.add(key);
    const line = `${mark[s.status]} ${s.title}... (${formatDuration(s.durationMs ?? 0)})${s.error && s.status === "failed" ? `\n    ${s.error.split("\n").join("\n    ")}` : ""}`;
    if (spinner && running === s.name) {
      spinner.stop(line);
      running = null;
    } else note(io, line);
  };
  const startLine = (s: JobStepView) => {
    if (running === s.name) return;
    running = s.name;
    if (spinner) spinner.start(`${s.title}...`);
    else if (!io.globals.quiet) io.stderr(`… ${s.title}...\n`);
  };
  const onStep = (s: JobStepView) => {
    if (s.status === "running") startLine(s);
    else finishLine(s);
  };

  for await (const ev of client.events<JobStreamEvent>("/jobs/{id}/events", { params: { id: jobId } })) {
    if (ev.type === "snapshot") {
      job = ev.job;
      if (job.status === "queued" && job.blockedBy && !announcedWait) {
        announcedWait = true;
        const b = job.blockedBy;
        note(
          io,
          `waiting for job ${b.id} (${b.kind}${b.target ? ` on ${b.target}` : ""}, ${b.status}${b.startedAt ? ` since ${b.startedAt}` : ""})`,
        );
      }
      for (const s of job.steps) onStep(s);
    } else if (ev.type === "step") {
      onStep(ev.step);
    } else if (ev.type === "job" && job) {
      job = { ...job, status: ev.status, error: ev.error };
      if (TERMINAL.has(ev.status)) break;
    }
  }
  if (spinner && running) spinner.stop(`${running} (interrupted)`);
  // The stream ends with the job; the final view carries the result and step timings.
  return client.get("/jobs/{id}", { params: { id: jobId } });
}
