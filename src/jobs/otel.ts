/**
 * The OpenTelemetry half of ./tracing, imported dynamically only when traces are configured.
 * Spans are batched and flushed at each job's end; the exporter speaks OTLP/HTTP with JSON.
 */
import { hostname } from "node:os";
import { context, type Span, SpanStatusCode, trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import type { Config } from "../config/schema";
import { VERSION } from "../version";
import { type JobSpan, type JobTracer, type TracedJob, tracesUrl } from "./spans";

function close(span: Span, error?: string): void {
  if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
  span.end();
}

export function otlpTracer(telemetry: Config["telemetry"]): JobTracer {
  const endpoint = telemetry.otlpEndpoint;
  if (!endpoint) throw new Error("telemetry.otlpEndpoint is not set");
  const exporter = new OTLPTraceExporter({ url: tracesUrl(endpoint), headers: telemetry.otlpHeaders });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      "service.name": "odooops",
      "service.version": VERSION,
      "host.name": hostname(),
    }),
    spanProcessors: [new BatchSpanProcessor({ exporter })],
  });
  const tracer = provider.getTracer("odooops.jobs", VERSION);

  const start = (job: TracedJob): JobSpan => {
    const root = tracer.startSpan(job.kind, {
      attributes: {
        "odooops.job.id": job.id,
        "odooops.job.kind": job.kind,
        "odooops.job.attempt": job.attempts,
        ...(job.target ? { "odooops.job.target": job.target } : {}),
      },
    });
    const parent = trace.setSpan(context.active(), root);
    return {
      traceId: root.spanContext().traceId,
      step(name, title, index) {
        const span = tracer.startSpan(
          name,
          { attributes: { "odooops.job.id": job.id, "odooops.step.title": title, "odooops.step.index": index } },
          parent,
        );
        return { end: (error) => close(span, error) };
      },
      end(status, error) {
        root.setAttribute("odooops.job.status", status);
        close(root, error);
      },
    };
  };
  return { start, flush: () => provider.forceFlush(), shutdown: () => provider.shutdown() };
}
