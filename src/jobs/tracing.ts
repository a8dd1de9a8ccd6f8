/**
 * Job traces: a job is a span, each step it runs a child span, exported over OTLP/HTTP when
 * `telemetry.otlpEndpoint` is set. The OpenTelemetry SDK is imported only then (./otel), so an
 * unconfigured CLI or daemon never loads it: its cold start and idle RSS stay as they were.
 */
import type { Config } from "../config/schema";

export interface StepSpan {
  /** `error` marks the span failed with that message. */
  end(error?: string): void;
}

export interface JobSpan {
  /** The W3C trace id (32 hex digits) written to the job log; null when not tracing. */
  traceId: string | null;
  step(name: string, title: string, index: number): StepSpan;
  end(status: string, error?: string): void;
}

export interface TracedJob {
  id: string;
  kind: string;
  target: string | null;
  attempts: number;
}

export interface JobTracer {
  start(job: TracedJob): JobSpan;
  /** Sends the ended spans now; export errors are the SDK's to log, never the job's. */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

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

/** `http://collector:4318` → `http://collector:4318/v1/traces`; a URL already ending so is kept. */
export function tracesUrl(endpoint: string): string {
  const url = new URL(endpoint);
  if (!url.pathname.endsWith("/v1/traces")) url.pathname = `${url.pathname.replace(/\/+$/, "")}/v1/traces`;
  return url.toString();
}
