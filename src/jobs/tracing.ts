/**
 * Job traces: a job is a span, each step it runs a child span, exported over OTLP/HTTP when
 * `telemetry.otlpEndpoint` is set. The OpenTelemetry SDK is imported only then (./otel), so an
 * unconfigured CLI or daemon never loads it: its cold start and idle RSS stay as they were.
 */
import type { Config } from "../config/schema";
import type { JobTracer, StepSpan } from "./spans";

const noSpan: StepSpan = { end() {} };
export const noTracer: JobTracer = {
  start: () => ({ traceId: null, step: () => noSpan, end() {} }),
  flush: async () => {},
  shutdown: async () => {},
};

let current: { key: string; tracer: Promise<JobTracer> } | null = null;

/** One exporter per distinct telemetry config; a changed config shuts the previous one down. */
export function jobTracer(telemetry: Config["telemetry"]): Promise<JobTracer> {
  if (!telemetry.otlpEndpoint) return Promise.resolve(noTracer);
  const key = JSON.stringify(telemetry);
  if (current?.key === key) return current.tracer;
  const previous = current;
  current = { key, tracer: import("./otel").then((m) => m.otlpTracer(telemetry)) };
  previous?.tracer.then((t) => t.shutdown()).catch(() => undefined);
  return current.tracer;
}

/** How long a stopping daemon waits for its collector: a dead one must not hold the stop up. */
const SHUTDOWN_WAIT_MS = 5_000;

/**
 * Sends the spans still queued or being retried, then closes the exporter. The daemon calls it
 * when it stops: the job span of the last job would otherwise die with the process.
 */
export async function shutdownJobTracing(): Promise<void> {
  const last = current;
  current = null;
  if (!last) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, SHUTDOWN_WAIT_MS);
  });
  try {
    await Promise.race([last.tracer.then((t) => t.shutdown()), timeout]);
  } catch {
    // Export errors are the SDK's to log; stopping goes on.
  } finally {
    clearTimeout(timer);
  }
}
