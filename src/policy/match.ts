/**
 * Branch → environment mapping. Patterns are real globs (picomatch: `*` never crosses `/`), tried
 * in file order, first match wins; a regex-prefix match would send `release-x` to `release/*`.
 */
import picomatch from "picomatch";
import type { BranchMappingRule, Policy } from "./schema";

export interface BranchTarget {
  rule: BranchMappingRule;
  /** Index in `branch_mappings` (for messages and audit). */
  index: number;
  envName: string;
}

export function globMatches(pattern: string, branch: string): boolean {
  return picomatch(pattern, { dot: true, nobrace: false, noextglob: true })(branch);
}

export function renderEnvName(template: string, vars: { branch: string; number?: number }): string {
  return template.replace(/\{(branch|number)\}/g, (_, key: string) =>
    key === "branch" ? vars.branch : String(vars.number ?? ""),
  );
}

export function mapBranch(policy: Policy, branch: string): BranchTarget | null {
  const index = policy.branch_mappings.findIndex((rule) => globMatches(rule.pattern, branch));
  if (index < 0) return null;
  const rule = policy.branch_mappings[index];
  return { rule, index, envName: renderEnvName(rule.env, { branch }) };
}

/** `7d` → ms, `never` → null. */
export function ttlMs(ttl: string): number | null {
  if (ttl === "never") return null;
  const n = Number(ttl.slice(0, -1));
  return n * (ttl.endsWith("d") ? 86_400_000 : 3_600_000);
}
