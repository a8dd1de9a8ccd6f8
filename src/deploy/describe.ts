/** One line per gate plan, for the job log and `deploy show` (no host imports: the CLI uses it). */
import type { GatePlan } from "../policy/gates";

export function describeGates(g: GatePlan): string {
  const req = (r: boolean) => (r ? "required" : "optional");
  return [
    g.tests.run ? `tests ${req(g.tests.required)}${g.tests.command ? " + command" : ""}` : "tests off",
    g.migrations.run ? `migrations ${req(g.migrations.required)}${g.migrations.neutralize ? " (neutralized copy)" : ""}` : "migrations off",
    g.approval ? `manual approval ${req(g.approval.required)} (timeout ${g.approval.timeoutSec} s)` : "no approval",
    g.smoke ? `smoke tests ${req(g.smoke.required)}` : "no smoke tests",
  ].join(", ");
}
