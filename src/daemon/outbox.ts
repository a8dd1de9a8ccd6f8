/**
 * An agent's reports not yet taken by the coordinator: one file per ended job in
 * `<data dir>/state/outbox/<job id>.json` (0600: a report may carry an env's changed secrets),
 * written atomically when the job ends and removed once the coordinator took it. Files, not
 * memory: a report survives the agent's restart as well as the coordinator's absence.
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Paths } from "../config/paths";
import { Invalid, issuesText } from "../errors";
import { writeFileAtomic } from "../init/config-file";
import { AgentJobReport } from "../fleet/schema";

const SUFFIX = ".json";

export class Outbox {
  readonly dir: string;

  constructor(paths: Pick<Paths, "dataDir">) {
    this.dir = join(paths.dataDir, "state", "outbox");
  }

  put(report: AgentJobReport): void {
    writeFileAtomic(join(this.dir, `${report.job.id}${SUFFIX}`), `${JSON.stringify(report)}\n`, 0o600);
  }

  /** Waiting reports, oldest job first (job ids are time-ordered); half-written temp files are not listed. */
  pending(): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((f) => f.endsWith(SUFFIX) && !f.startsWith("."))
      .sort()
      .map((f) => f.slice(0, -SUFFIX.length));
  }

  read(jobId: string): AgentJobReport {
    const file = join(this.dir, `${jobId}${SUFFIX}`);
    const parsed = AgentJobReport.safeParse(JSON.parse(readFileSync(file, "utf8")));
    if (!parsed.success) throw new Invalid(`${file}: ${issuesText(parsed.error)}`);
    return parsed.data;
  }

  taken(jobId: string): void {
    rmSync(join(this.dir, `${jobId}${SUFFIX}`), { force: true });
  }

  /** The coordinator refused it: kept beside, for a person to read, and never sent again. */
  refused(jobId: string): void {
    renameSync(join(this.dir, `${jobId}${SUFFIX}`), join(this.dir, `${jobId}.refused`));
  }
}
