/** Typed step outputs: checked when written, checked again when a resumed job reads them back. */
import { afterEach, describe, expect, test } from "bun:test";
import { z } from "zod";
import { defineJob, type StepContext, stepOutput, storingStep } from "../../src/jobs/define";
import { outputToStore } from "../../src/jobs/outputs";
import { LeaseLost } from "../../src/jobs/queue";
import { runJob } from "../../src/jobs/runner";
import { VERSION } from "../../src/version";
import { makeJobEngine } from "../support/jobs";

let engine: ReturnType<typeof makeJobEngine> | null = null;
afterEach(async () => {
  await engine?.cleanup();
  engine = null;
});

const Params = z.object({ key: z.string() });
type Params = z.infer<typeof Params>;

/** Kind "typed" as one binary defines it: `plan` stores `schema`, `apply` reads it back. */
function typedJob(schema: z.ZodType<{ image: string; tables?: string[] }>, record: string[]) {
  const plan = stepOutput("plan", schema);
  return defineJob<Params>({
    kind: "typed",
    params: Params,
    lockKey: (p) => p.key,
    target: (p) => p.key,
    steps: [
      storingStep(plan, {
        title: "Planning",
        async run() {
          record.push("plan");
          return { image: "odoo:17" };
        },
      }),
      {
        name: "apply",
        title: "Applying",
        async run(ctx: StepContext<Params>) {
          record.push(`apply ${ctx.output(plan).image} attempt ${ctx.attempt}`);
          // The first binary "dies" here: the step never ends and its lease is taken.
          if (ctx.attempt === 1)
            await new Promise((_r, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)));
        },
      },
    ],
    async succeeded(ctx) {
      return { image: ctx.output(plan).image, tables: ctx.output(plan).tables ?? null };
    },
  });
}

const V1 = z.object({ image: z.string() });

/** Runs the job under `def` until `plan` is stored and `apply` is running, then kills that agent. */
async function storeAndDie(def: ReturnType<typeof typedJob>, record: string[], key: string): Promise<string> {
  const e = engine!;
  const job = e.jobs.enqueue(def, { key }, "admin");
  const owner = `host-1:first-${key}`;
  const leased = await e.jobs.queue.lease({ hostId: "host-1", owner }, 60_000);
  const dies = new AbortController();
  const running = runJob({ def, leased: leased!, channel: e.jobs.queue, owner, deps: e.deps, signal: dies.signal });
  while (!record.includes("apply odoo:17 attempt 1")) await Bun.sleep(5);
  e.db.$client.run("UPDATE jobs SET lease_expires_at = '2000-01-01T00:00:00.000Z' WHERE id = ?", [job.id]);
  expect(e.jobs.queue.recover()).toBe(1);
  dies.abort(new LeaseLost("lease lost"));
  await running;
  expect(e.db.$client.query("SELECT output FROM job_steps WHERE job_id = ? AND idx = 0").get(job.id)).toEqual({
    output: JSON.stringify({ image: "odoo:17" }),
  });
  return job.id;
}

describe("typed step outputs", () => {
  test("a job records the binary version that stored it", () => {
    engine = makeJobEngine([typedJob(V1, [])]);
    const job = engine.jobs.enqueue(typedJob(V1, []), { key: "env-v" }, "admin");
    expect(engine.jobs.queue.row(job.id).odooopsVersion).toBe(VERSION);
  });

  test("types: only storingStep declares an output, its run returns the schema's type, a plain step returns nothing", () => {
    // The assertions are the @ts-expect-error lines: tsc (test/typecheck.test.ts) fails if one stops being an error.
    const o = stepOutput("a", z.object({ n: z.number() }));
    const def = defineJob<Params>({
      kind: "types",
      params: Params,
      lockKey: () => null,
      target: () => null,
      steps: [
        storingStep(o, { title: "a", run: async () => ({ n: 1 }) }),
        // @ts-expect-error a step literal cannot declare an output (its run would go unchecked)
        { name: "b", title: "b", output: stepOutput("b", z.object({ n: z.number() })), run: async () => ({ n: "x" }) },
        // @ts-expect-error run must return what the output's schema describes
        storingStep(stepOutput("c", z.object({ n: z.number() })), { title: "c", run: async () => ({ n: "x" }) }),
        // @ts-expect-error a step without an output stores nothing, so it returns nothing
        { name: "d", title: "d", run: async () => ({ n: 1 }) },
      ],
    });
    expect(def.steps.map((s) => [s.name, s.output?.step ?? null])).toEqual([
      ["a", "a"],
      ["b", "b"],
      ["c", "c"],
      ["d", null],
    ]);
  });

  test("what a step returns is checked against its schema before it is stored", () => {
    const out = stepOutput("plan", z.object({ image: z.string(), tables: z.array(z.string()) }));
    expect(outputToStore(out, { image: "odoo:17", tables: ["a"], extra: 1 })).toEqual({
      image: "odoo:17",
      tables: ["a"],
    });
    expect(() => outputToStore(out, { image: "odoo:17" })).toThrow(
      'step "plan" returned an output that lacks "tables"',
    );
    expect(() => outputToStore(out, { image: 17, tables: [] })).toThrow(
      'step "plan" returned an output that has "image" that does not fit: Invalid input: expected string, received number',
    );
    expect(() => outputToStore(out, { image: "x", tables: [1] })).toThrow('has "tables.0" that does not fit');
  });

  test("a step whose output names another step is refused when the job is defined", () => {
    const other = stepOutput("other", z.object({}));
    expect(() =>
      defineJob<Params>({
        kind: "mislabelled",
        params: Params,
        lockKey: () => null,
        target: () => null,
        steps: [
          {
            ...storingStep(other, {
              title: "x",
              async run() {
                return {};
              },
            }),
            name: "plan",
          },
        ],
      }),
    ).toThrow("job mislabelled: step plan declares the output of step other");
  });

  test("a step returning what its schema refuses fails the job with the reason and stores nothing", async () => {
    const bad = stepOutput("plan", z.object({ image: z.string() }));
    const def = defineJob<Params>({
      kind: "bad-output",
      params: Params,
      lockKey: (p) => p.key,
      target: (p) => p.key,
      steps: [
        storingStep(bad, {
          title: "Planning",
          // What a JavaScript caller or a bad merge could return: the schema still stops it.
          run: async () => JSON.parse('{"img":"odoo:17"}') as { image: string },
        }),
      ],
    });
    engine = makeJobEngine([def]);
    engine.startAgent();
    const job = await engine.waitFor(engine.jobs.enqueue(def, { key: "env-b" }, "admin").id);
    expect([job.status, job.error]).toEqual(["failed", 'step "plan" returned an output that lacks "image"']);
    expect(engine.db.$client.query("SELECT output FROM job_steps WHERE job_id = ?").get(job.id)).toEqual({
      output: null,
    });
  });

  test("resumed by a binary whose schema needs a field the stored output lacks: fails with the version and the field, runs nothing", async () => {
    const record: string[] = [];
    engine = makeJobEngine([typedJob(V1, record)]);
    const id = await storeAndDie(typedJob(V1, record), record, "env-x");
    // The job was stored by an older release of odooops.
    engine.db.$client.run("UPDATE jobs SET odooops_version = '0.1.0' WHERE id = ?", [id]);
    const v2 = typedJob(z.object({ image: z.string(), tables: z.array(z.string()) }), record);
    const leased = await engine.jobs.queue.lease({ hostId: "host-1", owner: "host-1:upgraded" }, 60_000);
    expect(leased!.job.id).toBe(id);
    await runJob({
      def: v2,
      leased: leased!,
      channel: engine.jobs.queue,
      owner: "host-1:upgraded",
      deps: engine.deps,
      signal: new AbortController().signal,
    });
    const message = `job ${id} was stored by odooops 0.1.0; its step "plan" output lacks "tables"`;
    const job = engine.jobs.queue.view(id);
    expect([job.status, job.error]).toEqual(["failed", message]);
    expect(record).toEqual(["plan", "apply odoo:17 attempt 1"]);
    expect(engine.db.$client.query("SELECT output FROM job_steps WHERE job_id = ? AND idx = 0").get(id)).toEqual({
      output: JSON.stringify({ image: "odoo:17" }),
    });
  });

  test("resumed by a binary that only added an optional field: finishes on the stored output", async () => {
    const record: string[] = [];
    engine = makeJobEngine([typedJob(V1, record)]);
    const id = await storeAndDie(typedJob(V1, record), record, "env-y");
    const v2 = typedJob(z.object({ image: z.string(), tables: z.array(z.string()).optional() }), record);
    const leased = await engine.jobs.queue.lease({ hostId: "host-1", owner: "host-1:upgraded" }, 60_000);
    await runJob({
      def: v2,
      leased: leased!,
      channel: engine.jobs.queue,
      owner: "host-1:upgraded",
      deps: engine.deps,
      signal: new AbortController().signal,
    });
    const job = engine.jobs.queue.view(id);
    expect([job.status, job.error, job.result]).toEqual(["succeeded", null, { image: "odoo:17", tables: null }]);
    expect(record).toEqual(["plan", "apply odoo:17 attempt 1", "apply odoo:17 attempt 2"]);
  });

  test("reading the output of a step that did not finish: undefined when asked for, an error when required", async () => {
    const skipped = stepOutput("maybe", z.object({ n: z.number() }));
    const seen: unknown[] = [];
    const def = defineJob<Params>({
      kind: "skipping",
      params: Params,
      lockKey: (p) => p.key,
      target: (p) => p.key,
      steps: [
        storingStep(skipped, { title: "Maybe", when: () => false, run: async () => ({ n: 1 }) }),
        {
          name: "read",
          title: "Reading",
          async run(ctx: StepContext<Params>) {
            seen.push(ctx.outputIfDone(skipped));
            ctx.output(skipped);
          },
        },
      ],
    });
    engine = makeJobEngine([def]);
    engine.startAgent();
    const job = await engine.waitFor(engine.jobs.enqueue(def, { key: "env-s" }, "admin").id);
    expect(seen).toEqual([undefined]);
    expect([job.status, job.error]).toEqual(["failed", 'step "maybe" has no output: it did not finish']);
  });
});
