/**
 * The policy a project gets when its repository has no `.odooops/policies.yaml`: nothing deploys
 * by itself (pushes are only recorded), previews expire, staging and production pass their tests and
 * a rehearsal of the migration first. No approval gate: whoever runs `odooops deploy` on a host
 * without a policy is the human who decided; approvals are opted into per tier in the file.
 */
import { type Policy, PolicySchema } from "./schema";

export const DEFAULT_POLICY: Policy = PolicySchema.parse({
  branch_mappings: [],
  health_gates: {
    staging: { tests: { required: true }, migrations: { required: true } },
    production: { tests: { required: true }, migrations: { required: true } },
  },
  resource_quotas: {},
  ttl_policies: { dev: "never", dev_ephemeral: "7d", staging: "never", production: "never" },
});
