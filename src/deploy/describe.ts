/** One line per gate plan, for the job log and `deploy show` (no host imports: the CLI uses it). */
import type { GatePlan } from "../policy/gates";

/**
 * A migrations gate the policy declares is "required"/"optional"; without one (e.g. dev under the
 * default policy) the rehearsal follows the host's deploy.rehearse setting and is skipped above
 * deploy.rehearseMaxDbMb — no gate to pass, so it is not called one.
 */
function migrationsGate(m: GatePlan["migrations"]): string {
  if (!m.run) return "migrations off";
  if (m.required && m.sizeCapped) return "rehearsal (deploy.rehearse, no policy gate)";
  return `migrations ${m.required ? "required" : "optional"}${m.neutralize ? " (neutralized copy)" : ""}`;
}

export function describeGates(g: GatePlan): string {
  const req = (r: boolean) => (r ? "required" : "optional");
  return [
    g.tests.run ? `tests ${req(g.tests.required)}${g.tests.command ? " + command" : ""}` : "tests off",
    migrationsGate(g.migrations),
    g.approval ? `manual approval ${req(g.approval.required)} (timeout ${g.approval.timeoutSec} s)` : "no approval",
    g.smoke ? `smoke tests ${req(g.smoke.required)}` : "no smoke tests",
  ].join(", ");
}
