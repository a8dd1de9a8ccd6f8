/**
 * The shapes of job traces (./tracing) and the collector URL rule, apart from both the no-op side
 * and the OpenTelemetry side (./otel), so neither imports the other.
 */

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

/** `http://collector:4318` → `http://collector:4318/v1/traces`; a URL already ending so is kept. */
export function tracesUrl(endpoint: string): string {
  const url = new URL(endpoint);
  if (!url.pathname.endsWith("/v1/traces")) url.pathname = `${url.pathname.replace(/\/+$/, "")}/v1/traces`;
  return url.toString();
}
