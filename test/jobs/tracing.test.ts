/**
 * Job traces: a job and the steps it runs arrive as OTLP/HTTP JSON spans at a receiver written
 * here, with the trace id the job log's first line names; unconfigured, no OpenTelemetry SDK
 * module is ever loaded (by the CLI or by a process running jobs).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigSchema } from "../../src/config/schema";
import { tracesUrl } from "../../src/jobs/spans";
import { jobTracer, noTracer } from "../../src/jobs/tracing";
import { makeJobEngine, probeJob } from "../support/jobs";
import { freePort } from "../support/ports";
import { makeTempDir, removeTempDir } from "../support/tmp";

const ROOT = join(import.meta.dir, "..", "..");
const SDK = /node_modules\/@opentelemetry\/(sdk-trace|exporter-trace-otlp-http|otlp-|resources)/;

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: { key: string; value: OtlpValue }[];
  status?: { code?: number; message?: string };
}
interface OtlpRequest {
  resourceSpans: {
    resource: { attributes: { key: string; value: OtlpValue }[] };
    scopeSpans: { spans: OtlpSpan[] }[];
  }[];
}

const attr = (span: OtlpSpan, key: string) => {
  const v = span.attributes.find((a) => a.key === key)?.value;
  return v?.stringValue ?? (v?.intValue === undefined ? undefined : Number(v.intValue));
};

describe("tracesUrl", () => {
  test("adds /v1/traces to a base endpoint, keeps a full one", () => {
    expect(tracesUrl("http://127.0.0.1:4318")).toBe("http://127.0.0.1:4318/v1/traces");
    expect(tracesUrl("https://otel.example.com/otlp/")).toBe("https://otel.example.com/otlp/v1/traces");
    expect(tracesUrl("http://c:4318/v1/traces")).toBe("http://c:4318/v1/traces");
  });
});

describe("telemetry config", () => {
  test("unset by default: the no-op tracer, nothing imported", async () => {
    const telemetry = ConfigSchema.parse({}).telemetry;
    expect(telemetry).toEqual({ otlpHeaders: {} });
    expect(await jobTracer(telemetry)).toBe(noTracer);
  });

  test("only an http(s) URL is an endpoint", () => {
    for (const bad of ["ftp://c:21", "collector:4318", "file:///tmp/x"])
      expect(ConfigSchema.safeParse({ telemetry: { otlpEndpoint: bad } }).success).toBe(false);
    expect(ConfigSchema.safeParse({ telemetry: { otlpEndpoint: "http://c:4318", nope: 1 } }).success).toBe(false);
  });
});

describe("jobs exported to an OTLP/HTTP receiver", () => {
  const requests: { headers: Headers; body: OtlpRequest }[] = [];
  let server: ReturnType<typeof Bun.serve>;
  const probe = probeJob([]);
  const engine = makeJobEngine([probe]);

  beforeAll(() => {
    server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req) {
        if (req.method !== "POST" || new URL(req.url).pathname !== "/v1/traces")
          return new Response("no", { status: 404 });
        requests.push({ headers: req.headers, body: (await req.json()) as OtlpRequest });
        return Response.json({});
      },
    });
    engine.deps.config.telemetry = {
      otlpEndpoint: `http://127.0.0.1:${server.port}`,
      otlpHeaders: { "x-collector-key": "k-123" },
    };
    engine.startAgent();
  });

  afterAll(async () => {
    await (await jobTracer(engine.deps.config.telemetry)).shutdown();
    await engine.cleanup();
    server?.stop(true);
  });

  const spansOf = (traceId: string) =>
    requests
      .flatMap((r) => r.body.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((s) => s.spans)))
      .filter((s) => s.traceId === traceId);

  async function spansFor(traceId: string, count: number): Promise<OtlpSpan[]> {
    for (let i = 0; i < 500 && spansOf(traceId).length < count; i++) await Bun.sleep(20);
    return spansOf(traceId);
  }

  /** The id on the run's first line, right after the "queued" line written at enqueue. */
  const loggedTraceId = (jobId: string): string => {
    const [queued, first] = readFileSync(engine.jobs.logs.file(jobId), "utf8").split("\n");
    expect(queued).toContain("queued probe");
    const id = /^\S+ trace ([0-9a-f]{32})$/.exec(first ?? "")?.[1];
    if (!id) throw new Error(`no trace id on the run's first line: ${first}`);
    return id;
  };

  test("a job is one span, each step a child span, under the trace id of the log's first line", async () => {
    const job = engine.jobs.enqueue(probe, { key: "ok" }, null);
    expect((await engine.waitFor(job.id)).status).toBe("succeeded");
    const traceId = loggedTraceId(job.id);
    const spans = await spansFor(traceId, 4);
    expect(spans.map((s) => s.name).sort()).toEqual(["one", "probe", "three", "two"]);
    const root = spans.find((s) => s.name === "probe")!;
    expect(root.parentSpanId ?? "").toBe("");
    expect(attr(root, "odooops.job.id")).toBe(job.id);
    expect(attr(root, "odooops.job.kind")).toBe("probe");
    expect(attr(root, "odooops.job.target")).toBe("ok");
    expect(attr(root, "odooops.job.status")).toBe("succeeded");
    for (const [index, name] of ["one", "two", "three"].entries()) {
      const step = spans.find((s) => s.name === name)!;
      expect(step.parentSpanId).toBe(root.spanId);
      expect(attr(step, "odooops.step.index")).toBe(index);
      expect(attr(step, "odooops.step.title")).toBe(`Step ${name}`);
      expect(step.status?.code ?? 0).toBe(0);
    }
    const request = requests.find((r) => JSON.stringify(r.body).includes(traceId))!;
    expect(request.headers.get("x-collector-key")).toBe("k-123");
    const resource = request.body.resourceSpans[0]!.resource.attributes;
    expect(resource.find((a) => a.key === "service.name")?.value.stringValue).toBe("odooops");
  });

  test("a failed step and its job are spans with an error status; steps never run have none", async () => {
    const job = engine.jobs.enqueue(probe, { key: "bad", failAt: "two" }, null);
    expect((await engine.waitFor(job.id)).status).toBe("failed");
    const traceId = loggedTraceId(job.id);
    const spans = await spansFor(traceId, 3);
    // Give a stray third step span time to arrive: it must not.
    await Bun.sleep(300);
    expect(
      spansOf(traceId)
        .map((s) => s.name)
        .sort(),
    ).toEqual(["one", "probe", "two"]);
    const two = spans.find((s) => s.name === "two")!;
    expect(two.status).toMatchObject({ code: 2, message: "two broke" });
    const root = spans.find((s) => s.name === "probe")!;
    expect(root.status).toMatchObject({ code: 2, message: "two broke" });
    expect(attr(root, "odooops.job.status")).toBe("failed");
  });
});

describe("a stopping daemon flushes its spans", () => {
  const root = makeTempDir("odooops-trace-stop-");
  const bodies: OtlpRequest[] = [];
  let refused = 0;
  let server: ReturnType<typeof Bun.serve>;
  beforeAll(() => {
    // The collector turns the first export away with a retry delay: the job's spans are still
    // waiting in the exporter when the daemon stops, as with a busy collector in production.
    server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req) {
        const body = (await req.json()) as OtlpRequest;
        if (refused === 0) {
          refused++;
          return new Response("busy", { status: 503, headers: { "retry-after": "2" } });
        }
        bodies.push(body);
        return Response.json({});
      },
    });
  });
  afterAll(() => {
    server?.stop(true);
    removeTempDir(root);
  });

  test("the span of a job that ended right before the stop reaches the collector", async () => {
    const port = await freePort();
    const proc = Bun.spawn(
      [
        "bun",
        join(import.meta.dir, "../support/trace-daemon-child.ts"),
        root,
        String(port),
        `http://127.0.0.1:${server.port}`,
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    const [out, err, code] = [
      await new Response(proc.stdout).text(),
      await new Response(proc.stderr).text(),
      await proc.exited,
    ];
    if (code !== 0) throw new Error(`daemon child exited ${code}: ${err}`);
    const [jobId, status] = out.trim().split("\n").at(-1)!.split(" ");
    expect(status).toBe("succeeded");
    expect(refused).toBe(1);
    // The child has exited: whatever the collector holds now was sent before the process ended.
    const spans = bodies.flatMap((b) => b.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((s) => s.spans)));
    const jobSpan = spans.find((s) => s.name === "probe" && attr(s, "odooops.job.id") === jobId);
    expect(jobSpan).toBeDefined();
    expect(
      spans
        .filter((s) => s.traceId === jobSpan!.traceId)
        .map((s) => s.name)
        .sort(),
    ).toEqual(["one", "probe", "three", "two"]);
  });
});

describe("the SDK is loaded only when traces are configured", () => {
  const tmp = makeTempDir("odooops-trace-mods-");
  afterAll(() => removeTempDir(tmp));

  async function loaded(name: string, argv: string[]): Promise<string[]> {
    const file = join(tmp, `${name}.json`);
    const proc = Bun.spawn(["bun", "--preload", "./test/support/loaded-modules.ts", ...argv], {
      cwd: ROOT,
      env: { ...process.env, ODOOOPS_LOADED_MODULES_FILE: file },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = [
      await new Response(proc.stdout).text(),
      await new Response(proc.stderr).text(),
      await proc.exited,
    ];
    if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}: ${err}`);
    return [out.trim(), ...(JSON.parse(readFileSync(file, "utf8")) as string[])];
  }

  test("the CLI's start loads none of it", async () => {
    const [out, ...mods] = await loaded("cli", ["src/main.ts", "--version"]);
    expect(out).toMatch(/\d+\.\d+\.\d+/);
    expect(mods.length).toBeGreaterThan(10);
    expect(mods.filter((m) => SDK.test(m))).toEqual([]);
  });

  test("running a job unconfigured loads none of it; configured, it does", async () => {
    const [status, ...plain] = await loaded("plain", ["test/support/trace-child.ts"]);
    expect(status).toBe("succeeded");
    expect(plain.some((m) => m.endsWith("src/jobs/runner.ts"))).toBe(true);
    expect(plain.filter((m) => SDK.test(m))).toEqual([]);
    // A closed port: the export fails in the background, the job still succeeds.
    const [traced, ...withSdk] = await loaded("traced", ["test/support/trace-child.ts", "http://127.0.0.1:9"]);
    expect(traced).toBe("succeeded");
    expect(withSdk.filter((m) => SDK.test(m)).length).toBeGreaterThan(0);
  });
});
