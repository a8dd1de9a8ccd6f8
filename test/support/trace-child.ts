/**
 * A job engine in its own process for the tracing test: runs one probe job, with traces sent to
 * argv[2] when given, and prints the job's status. Run with test/support/loaded-modules.ts
 * preloaded, it shows which modules running a job loads.
 */
import { makeJobEngine, probeJob } from "./jobs";

const endpoint = process.argv[2];
const probe = probeJob([]);
const engine = makeJobEngine([probe]);
try {
  if (endpoint) engine.deps.config.telemetry.otlpEndpoint = endpoint;
  engine.startAgent();
  const job = engine.jobs.enqueue(probe, { key: "child" }, null);
  console.log((await engine.waitFor(job.id)).status);
} finally {
  await engine.cleanup();
}
process.exit(0);
