/**
 * A real daemon process for crash tests: `bun test/support/daemon-child.ts <root> <port>`.
 * Adds two job kinds whose steps append to <root>/probe-runs; step "two" waits until
 * <root>/release exists, so a test can kill -9 the process while it runs. In
 * `crash-probe-once`, step "two" is marked not safe to repeat.
 */
import { appendFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { startDaemon } from "../../src/daemon/serve";
import { defineJob } from "../../src/jobs/define";

const [root, port] = process.argv.slice(2) as [string, string];
const runs = join(root, "probe-runs");

function crashProbe(kind: string, twoResumable: boolean) {
  return defineJob({
    kind,
    params: z.object({ key: z.string() }),
    lockKey: (p) => p.key,
    target: (p) => p.key,
    steps: ["one", "two", "three"].map((name) => ({
      name,
      title: `Step ${name}`,
      resumable: name === "two" ? twoResumable : true,
      async run() {
        appendFileSync(runs, `run ${name}\n`);
        if (name === "two") while (!existsSync(join(root, "release"))) await Bun.sleep(20);
      },
      async undo() {
        appendFileSync(runs, `undo ${name}\n`);
      },
    })),
  });
}

await startDaemon({
  root,
  listen: `127.0.0.1:${port}`,
  env: { ...process.env, ODOOOPS_ADMIN_PASSWORD: "crash-test-pw" },
  extraJobs: [crashProbe("crash-probe", true), crashProbe("crash-probe-once", false)],
});
