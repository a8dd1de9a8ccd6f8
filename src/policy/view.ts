/** API shapes of `policy show` and `policy validate`. */
import { z } from "@hono/zod-openapi";
import { TIERS } from "../env/vocabulary";

/**
 * The health gates of a deployment's tier, from the policy at its commit (src/policy/gates.ts).
 * Here, not in deploy/: `policy show` returns it too, and policy/ sits below deploy/.
 */
export const GatePlanView = z
  .object({
    tier: z.enum(TIERS),
    source: z.enum(["repo", "default"]),
    tests: z.object({ run: z.boolean(), required: z.boolean(), command: z.array(z.string()).nullable() }),
    migrations: z.object({ run: z.boolean(), required: z.boolean(), sizeCapped: z.boolean(), neutralize: z.boolean() }),
    approval: z.object({ required: z.boolean(), timeoutSec: z.number() }).nullable(),
    smoke: z.object({ required: z.boolean(), command: z.array(z.string()) }).nullable(),
  })
  .openapi("GatePlan");

export const PolicyShowQuery = z.object({
  project: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/)
    .optional(),
  env: z.string().min(1).max(200).optional(),
});

const QuotaView = z.object({
  workers: z.number().optional(),
  cpu: z.number().optional(),
  memory: z.string().optional(),
  storage: z.string().optional(),
});

export const EnvPolicyView = z.object({
  name: z.string(),
  tier: z.enum(TIERS),
  /** What the env's next deploy goes through (the deploy re-reads the default branch's policy). */
  gates: GatePlanView,
  quota: QuotaView,
  ttl: z.string().nullable(),
  /** The env's limits now (its tier's, capped by the quota). */
  limits: z.object({ workers: z.number(), cpus: z.number(), memoryMb: z.number() }),
  storage: z.object({
    usedBytes: z.number(),
    quotaBytes: z.number().nullable(),
    exceeded: z.boolean(),
    /** What could not be measured (e.g. not reported yet by the env's agent); null when both sizes are known. */
    unknown: z.string().nullable(),
  }),
});

export const EffectivePolicyView = z
  .object({
    project: z.string(),
    /** `repo`: the newest `.odooops/policies.yaml` a deployment read from the default branch; `default`: the server default. */
    source: z.enum(["repo", "default"]),
    commit: z.string().nullable(),
    policy: z.record(z.string(), z.unknown()),
    env: EnvPolicyView.nullable(),
  })
  .openapi("EffectivePolicy");
export type EffectivePolicyView = z.infer<typeof EffectivePolicyView>;

export const ValidatePolicyRequest = z
  .object({ text: z.string().max(1024 * 1024), file: z.string().min(1).max(500).optional() })
  .strict()
  .openapi("ValidatePolicyRequest");

export const PolicyValidation = z
  .object({ ok: z.boolean(), problems: z.array(z.string()), policy: z.record(z.string(), z.unknown()).nullable() })
  .openapi("PolicyValidation");
export type PolicyValidation = z.infer<typeof PolicyValidation>;
