/**
 * An agent's reports not yet taken by the coordinator: one file per ended job in
 * `<data dir>/state/outbox/<job id>.json` (0600: a report may carry an env's changed secrets),
 * written atomically when the job ends and removed once the coordinator took it. Files, not
 * memory: a report survives the agent's restart as well as the coordinator's absence. Jobs the
 * agent ran by itself go to `outbox/`; the finish of a leased job the coordinator could not take
 * (it was away) to `outbox/leased/`.
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { z } from "zod";
import type { Paths } from "../config/paths";
import { Invalid, issuesText } from "../errors";
import { writeFileAtomic } from "../init/config-file";
import { AgentJobReport, LateFinish } from "../fleet/schema";

const SUFFIX = ".json";

class FileOutbox<T> {
  constructor(
    readonly dir: string,
    private readonly schema: z.ZodType<T>,
    private readonly idOf: (report: T) => string,
  ) {}

  put(report: T): void {
    writeFileAtomic(join(this.dir, `${this.idOf(report)}${SUFFIX}`), `${JSON.stringify(report)}\n`, 0o600);
  }

  /** Waiting reports, oldest job first (job ids are time-ordered); half-written temp files are not listed. */
  pending(): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((f) => f.endsWith(SUFFIX) && !f.startsWith("."))
      .sort()
      .map((f) => f.slice(0, -SUFFIX.length));
  }

  read(jobId: string): T {
    const file = join(this.dir, `${jobId}${SUFFIX}`);
    const parsed = this.schema.safeParse(JSON.parse(readFileSync(file, "utf8")));
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

/** Reports of the jobs the agent ran by itself (src/daemon/agent-local.ts). */
export class Outbox extends FileOutbox<AgentJobReport> {
  constructor(paths: Pick<Paths, "dataDir">) {
    super(join(paths.dataDir, "state", "outbox"), AgentJobReport, (r) => r.job.id);
  }
}

/** Finishes of leased jobs that wait for the coordinator (src/jobs/http-channel.ts). */
export class LeasedOutbox extends FileOutbox<LateFinish> {
  constructor(paths: Pick<Paths, "dataDir">) {
    super(join(paths.dataDir, "state", "outbox", "leased"), LateFinish, (r) => r.jobId);
  }
}
