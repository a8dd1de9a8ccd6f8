/** A job engine on a temp state database, with an agent, for engine tests. */
import { z } from "zod";
import { resolvePaths } from "../../src/config/paths";
import { ConfigSchema } from "../../src/config/schema";
import { SecretBox } from "../../src/auth/secretbox";
import { Agent } from "../../src/jobs/agent";
import type { AnyJobDef } from "../../src/jobs/define";
import type { Deps } from "../../src/deps";
import { defineJob, type StepContext, stepOutput, storingStep } from "../../src/jobs/define";
import { JobRegistry } from "../../src/jobs/registry";
import { JobService } from "../../src/jobs/service";
import { TERMINAL } from "../../src/jobs/status";
import type { JobView } from "../../src/jobs/view";
import { openState } from "../../src/state/db";
import { makeTempDir, removeTempDir } from "./tmp";

export function makeJobEngine(defs: AnyJobDef[]) {
  const root = makeTempDir("odooops-jobs-");
  const paths = resolvePaths(root);
  const db = openState(paths.stateDb);
  const jobs = new JobService(db, paths.jobLogsDir, new JobRegistry(defs), "host-1");
  const deps: Deps = { db, config: ConfigSchema.parse({}), paths, box: SecretBox.fromFile(paths.secretKeyFile) };
  const agents: Agent[] = [];
  return {
    root,
    db,
    jobs,
    deps,
    startAgent(owner = "host-1:agent-a", opts: { heartbeatMs?: number; leaseMs?: number } = {}) {
      const agent = new Agent({
        identity: { hostId: "host-1", owner },
        channel: jobs.queue,
        registry: jobs.registry,
        deps,
        pollMs: 50,
        ...opts,
      });
      jobs.events.onQueued(() => agent.poke());
      agent.start();
      agents.push(agent);
      return agent;
    },
    async waitFor(id: string, timeoutMs = 20_000): Promise<JobView> {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const v = jobs.queue.view(id);
        if (TERMINAL.has(v.status)) return v;
        if (Date.now() > until) throw new Error(`job ${id} still ${v.status}`);
        await Bun.sleep(20);
      }
    },
    async cleanup() {
      for (const a of agents) await a.stop(2_000);
      db.$client.close();
      removeTempDir(root);
    },
  };
}

/** A job kind whose steps record their runs in a shared array; behaviour per step from params. */
export const ProbeParams = z.object({
  key: z.string(),
  failAt: z.string().optional(),
  holdAt: z.string().optional(),
});

/** Each probe step stores which step it was, so the result lists the finished ones. */
const probeOutputs = ["one", "two", "three"].map((name) => stepOutput(name, z.object({ step: z.literal(name) })));

export function probeJob(record: string[], holds: Map<string, Promise<void>> = new Map()) {
  const step = (output: (typeof probeOutputs)[number]) => {
    const name = output.step;
    return storingStep(output, {
      title: `Step ${name}`,
      async run(ctx: StepContext<z.infer<typeof ProbeParams>>) {
        record.push(`run ${name}`);
        ctx.log(`doing ${name} password=hunter22`);
        if (ctx.params.holdAt === name) {
          const hold = holds.get(ctx.params.key);
          await Promise.race([
            hold,
            new Promise((_r, reject) => ctx.signal.addEventListener("abort", () => reject(new Error("aborted")))),
          ]);
        }
        if (ctx.params.failAt === name) throw new Error(`${name} broke`);
        return { step: name };
      },
      async undo() {
        record.push(`undo ${name}`);
      },
    });
  };
  return defineJob({
    kind: "probe",
    params: ProbeParams,
    lockKey: (p) => p.key,
    target: (p) => p.key,
    steps: probeOutputs.map(step),
    async succeeded(ctx) {
      return { steps: probeOutputs.map((o) => ctx.output(o).step) };
    },
    async failed(_ctx, error, cancelled) {
      record.push(`failed ${cancelled ? "cancelled" : error}`);
    },
  });
}
