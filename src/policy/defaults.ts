/**
 * The policy a project gets when its repository has no `.odooops/policies.yaml`: nothing deploys
 * by itself (pushes are only recorded), previews expire, production waits for a human.
 */
import { type Policy, PolicySchema } from "./schema";

export const DEFAULT_POLICY: Policy = PolicySchema.parse({
  branch_mappings: [],
  health_gates: {
    staging: { tests: { required: true }, migrations: { required: true } },
    production: { tests: { required: true }, migrations: { required: true }, manual_approval: { required: true, timeout: "24h" } },
  },
  resource_quotas: {},
  ttl_policies: { dev: "never", dev_ephemeral: "7d", staging: "never", production: "never" },
});
