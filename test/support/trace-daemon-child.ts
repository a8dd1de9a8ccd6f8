/**
 * A whole daemon in its own process for the tracing test: `bun trace-daemon-child.ts <root> <port>
 * <otlp endpoint>`. Runs one probe job to its end, stops the daemon right away and exits, as
 * `odooops serve` does on SIGTERM; prints the job's id and status.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startDaemon } from "../../src/daemon/serve";
import { probeJob } from "./jobs";

const [root, port, endpoint] = process.argv.slice(2) as [string, string, string];
mkdirSync(join(root, "etc"), { recursive: true });
writeFileSync(join(root, "etc", "config.yaml"), `telemetry:\n  otlpEndpoint: "${endpoint}"\n`);
const probe = probeJob([]);
const daemon = await startDaemon({
  root,
  listen: `127.0.0.1:${port}`,
  env: { ...process.env, ODOOOPS_ADMIN_PASSWORD: "trace-test-pw" },
  extraJobs: [probe],
});
const job = daemon.deps.jobs.enqueue(probe, { key: "last" }, null);
let status = daemon.deps.jobs.queue.view(job.id).status;
for (let i = 0; i < 1500 && !["succeeded", "failed", "cancelled"].includes(status); i++) {
  await Bun.sleep(20);
  status = daemon.deps.jobs.queue.view(job.id).status;
}
await daemon.stop();
console.log(`${job.id} ${status}`);
process.exit(0);
