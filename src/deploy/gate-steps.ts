/**
 * The gates that are steps of their own: `approval` (after the tests, which run on a throwaway
 * empty database, and before the rehearsal — the first step that runs the new commit's code on a
 * copy of the env's data — and any backup or migration) and `smoke` (between a healthy new release and the nginx switch). The
 * approval is a state the step polls, never a promise in memory: a restarted agent resumes the
 * step and keeps waiting until the same deadline.
 */
import { AppError, Invalid } from "../errors";
import { loadEnvById } from "../env/lookup";
import { envResources, ODOO_HTTP_PORT } from "../env/resources";
import type { StepContext, StepDef } from "../jobs/define";
import type { Deps } from "../deps";
import type { GatePlan } from "../policy/gates";
import type { Db } from "../state/db";
import { runGateCommand } from "./gate-command";
import { loadDeployment, setDeployment, timedStep, recordApprovalDecision } from "./records";
import { startOutput } from "./release-steps";

interface GateParams {
  envId: string;
  deploymentId: string;
}

const POLL_MS = 1000;

/** A required gate failed: the message carries the gate's output. */
export class GateFailed extends AppError {
  override readonly code = "gate_failed";
}

export function gatesOf(db: Db, deploymentId: string): GatePlan {
  const gates = loadDeployment(db, deploymentId).gates;
  if (!gates) throw new Invalid(`deployment ${deploymentId} has no gate plan (its source step did not run)`);
  return gates;
}

/** A gate's failure: fails the deployment when required, else a warning in the log. */
export function gateFailure(required: boolean, message: string, log: (line: string) => void): void {
  if (required) throw new GateFailed(message);
  log(`warn: ${message} (the gate is not required: deploying anyway)`);
}

/** Ends early on cancel; the listener goes with the timer (a day of polling must not pile them up). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

async function awaitApproval(ctx: StepContext<GateParams>): Promise<void> {
  const { db } = ctx.deps;
  const id = ctx.params.deploymentId;
  const gate = gatesOf(db, id).approval;
  if (!gate) return;
  let d = loadDeployment(db, id);
  if (!d.approvalDeadline) {
    const deadline = new Date(Date.now() + gate.timeoutSec * 1000).toISOString();
    setDeployment(db, id, { status: "awaiting_approval", approvalDeadline: deadline });
    ctx.log(`waiting for approval until ${deadline}: odooops deploy approve ${id} (or reject ${id} --reason …)`);
  } else if (!d.approvalDecision) {
    setDeployment(db, id, { status: "awaiting_approval" });
    ctx.log(`still waiting for approval until ${d.approvalDeadline}`);
  }
  for (;;) {
    d = loadDeployment(db, id);
    if (d.approvalDecision === "approved") {
      ctx.log(`approved by ${d.approvalBy ?? "?"}${d.approvalReason ? `: ${d.approvalReason}` : ""}`);
      setDeployment(db, id, { status: "migrating" });
      return;
    }
    if (d.approvalDecision === "rejected")
      throw new GateFailed(
        `manual approval: rejected by ${d.approvalBy ?? "?"}${d.approvalReason ? `: ${d.approvalReason}` : ""}`,
      );
    if (d.approvalDecision === "timed_out" || Date.now() >= Date.parse(d.approvalDeadline ?? "")) {
      if (d.approvalDecision === "timed_out" || recordApprovalDecision(db, id, "timed_out", null, null) !== undefined) {
        if (gate.required)
          throw new GateFailed(
            `manual approval: nobody approved within ${gate.timeoutSec} s (until ${d.approvalDeadline}): rejected`,
          );
        ctx.log(
          `warn: nobody approved within ${gate.timeoutSec} s; the approval gate is not required: deploying anyway`,
        );
        setDeployment(db, id, { status: "migrating" });
        return;
      }
      continue;
    }
    if (ctx.signal.aborted) throw new Error("cancelled while waiting for approval");
    await sleep(Math.min(POLL_MS, Math.max(10, Date.parse(d.approvalDeadline ?? "") - Date.now())), ctx.signal);
  }
}

export function approvalStep<P extends GateParams>(): StepDef<P> {
  return {
    name: "approval",
    title: "Waiting for approval",
    waits: true,
    when: (p, deps: Deps) => gatesOf(deps.db, p.deploymentId).approval !== null,
    run: (ctx) => timedStep(ctx.deps.db, ctx.params.deploymentId, "approval", () => awaitApproval(ctx)),
  };
}

/**
 * `smoke_tests.command` in a throwaway container of the release image on the env's network, with
 * the new release's in-network URL as ODOOOPS_URL: it is healthy on its own port, users do not
 * reach it yet. A failed required gate fails the deploy and `start`'s undo removes the release.
 */
export function smokeStep<P extends GateParams>(): StepDef<P> {
  return {
    name: "smoke",
    title: "Running the smoke tests",
    when: (p, deps: Deps) => gatesOf(deps.db, p.deploymentId).smoke !== null,
    async run(ctx) {
      const gate = gatesOf(ctx.deps.db, ctx.params.deploymentId).smoke;
      if (!gate) return;
      const env = loadEnvById(ctx.deps.db, ctx.params.envId);
      const d = loadDeployment(ctx.deps.db, ctx.params.deploymentId);
      const { container } = ctx.output(startOutput);
      const r = envResources(env, ctx.deps);
      const url = `http://${container}:${ODOO_HTTP_PORT}`;
      ctx.log(`smoke tests against ${url}: ${JSON.stringify(gate.command)}`);
      const result = await timedStep(ctx.deps.db, ctx.params.deploymentId, "smoke", () =>
        runGateCommand(ctx.deps, env, {
          image: d.image ?? env.odooImage,
          name: `${r.initContainer}-smoke`,
          network: r.network,
          command: gate.command,
          env: { ODOOOPS_URL: url },
          log: (l) => ctx.log(l),
          signal: ctx.signal,
        }),
      );
      if (result.exitCode === 0) return;
      gateFailure(
        gate.required,
        `smoke tests failed (exit ${result.exitCode}); the old release keeps serving:\n${result.failure}`,
        (l) => ctx.log(l),
      );
    },
  };
}
