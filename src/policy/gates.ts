/**
 * Which health gates a deployment passes through, decided once from the project's policy (read
 * from the default branch, never from the commit being deployed) and the host's deploy settings, and stored on the deployment: a resumed job and
 * `deploy show` see the same plan. A gate the policy declares always runs (a required one even
 * when `deploy.runTests`/`deploy.rehearse` are off); one it does not declare follows the settings,
 * as before policies existed. `required: false` turns a failure into a warning.
 */
import type { Config } from "../config/schema";
import type { Policy, PolicyTier } from "./schema";

export interface GatePlan {
  tier: PolicyTier;
  /** Where the policy came from: the default branch's policies file, or the server default. */
  source: "repo" | "default";
  tests: { run: boolean; required: boolean; command: string[] | null };
  /** The rehearsal; `sizeCapped`: skipped above deploy.rehearseMaxDbMb (not for a required gate). */
  migrations: { run: boolean; required: boolean; sizeCapped: boolean; neutralize: boolean };
  approval: { required: boolean; timeoutSec: number } | null;
  smoke: { required: boolean; command: string[] } | null;
}

const UNIT_SEC: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `90s`, `30m`, `12h`, `7d` → seconds. */
export function durationSec(duration: string): number {
  const unit = UNIT_SEC[duration.slice(-1)];
  const n = Number(duration.slice(0, -1));
  if (!unit || !Number.isInteger(n) || n <= 0) throw new Error(`not a duration: ${duration}`);
  return n * unit;
}

export function planGates(
  policy: Policy,
  tier: PolicyTier,
  deploy: Pick<Config["deploy"], "runTests" | "rehearse">,
  source: GatePlan["source"],
): GatePlan {
  const g = policy.health_gates[tier] ?? {};
  return {
    tier,
    source,
    tests: g.tests
      ? { run: true, required: g.tests.required, command: g.tests.command ?? null }
      : { run: deploy.runTests, required: true, command: null },
    migrations: g.migrations
      ? {
          run: true,
          required: g.migrations.required,
          sizeCapped: !g.migrations.required,
          neutralize: tier === "production",
        }
      : { run: deploy.rehearse, required: true, sizeCapped: true, neutralize: tier === "production" },
    approval: g.manual_approval
      ? { required: g.manual_approval.required, timeoutSec: durationSec(g.manual_approval.timeout) }
      : null,
    smoke: g.smoke_tests ? { required: g.smoke_tests.required, command: g.smoke_tests.command } : null,
  };
}
