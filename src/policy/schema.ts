/**
 * `.odooops/policies.yaml`: which branches map to which environments, and what each tier must pass
 * and may use. Unknown keys are errors (a typo must not silently turn a gate off), and every error
 * names the file, line and key path so the author can fix it without guessing.
 */
import { z } from "zod";
import { checkYamlDocument, formatPath } from "../yaml-doc";
import { Invalid } from "../errors";
import { TIERS, type Tier } from "../env/vocabulary";

export type PolicyTier = Tier;

const Duration = z.string().regex(/^[1-9]\d*[smhd]$/, 'a duration like "90s", "30m", "12h" or "7d"');
/** `7d`, `14d`, `12h` or `never`. */
const Ttl = z.union([z.literal("never"), z.string().regex(/^[1-9]\d*[hd]$/, 'a TTL like "7d", "12h" or "never"')]);
const Size = z.string().regex(/^[1-9]\d*(\.\d+)?[kmgt]?$/i, 'a size like "512m", "2g" or "20g"');
const Command = z.array(z.string().min(1)).min(1);

/** `{branch}` and `{number}` are the only placeholders; anything else in braces is a typo. */
const NameTemplate = z
  .string()
  .min(1)
  .max(100)
  .refine(
    (t) => [...t.matchAll(/\{([^}]*)\}/g)].every((m) => m[1] === "branch" || m[1] === "number"),
    "only {branch} and {number} may appear in braces",
  )
  .refine((t) => /^[A-Za-z0-9._/{}-]+$/.test(t), "use letters, digits, . _ / - and {branch} / {number}");

const BranchMapping = z
  .object({
    pattern: z.string().min(1).max(200),
    tier: z.enum(TIERS),
    env: NameTemplate.default("{branch}"),
    auto_deploy: z.boolean().default(false),
    /** A push on the branch creates the env when it does not exist (then deploys, if auto_deploy). */
    create: z.boolean().default(false),
  })
  .strict();

const Gate = z.object({ required: z.boolean().default(true) }).strict();
const TestsGate = z.object({ required: z.boolean().default(true), command: Command.optional() }).strict();
const CommandGate = z.object({ required: z.boolean().default(true), command: Command }).strict();
const ApprovalGate = z.object({ required: z.boolean().default(true), timeout: Duration.default("24h") }).strict();

const HealthGates = z
  .object({
    tests: TestsGate.optional(),
    migrations: Gate.optional(),
    manual_approval: ApprovalGate.optional(),
    smoke_tests: CommandGate.optional(),
  })
  .strict();

const Quota = z
  .object({
    workers: z.number().int().min(0).max(64).optional(),
    cpu: z.number().positive().max(256).optional(),
    memory: Size.optional(),
    storage: Size.optional(),
  })
  .strict();

const perTier = <T extends z.ZodType>(value: T) =>
  z
    .object({
      dev: value.optional(),
      dev_ephemeral: value.optional(),
      staging: value.optional(),
      production: value.optional(),
    })
    .strict();

export const PolicySchema = z
  .object({
    version: z.literal(1).default(1),
    branch_mappings: z.array(BranchMapping).max(100).default([]),
    health_gates: perTier(HealthGates).default({}),
    resource_quotas: perTier(Quota).default({}),
    ttl_policies: perTier(Ttl).default({}),
    /**
     * Repository modules a deployment installs: `all` (default) = every installable module of the
     * repository on its first deployment to an env; `none`; or a list, installed whenever missing.
     */
    install_modules: z
      .union([
        z.enum(["all", "none"]),
        z.array(z.string().regex(/^[a-z0-9_]+$/, "a module name: a-z, 0-9 and _")).max(500),
      ])
      .default("all"),
  })
  .strict();

export type Policy = z.infer<typeof PolicySchema>;
export type BranchMappingRule = z.infer<typeof BranchMapping>;
export type PolicyInput = z.input<typeof PolicySchema>;
export type HealthGates = z.infer<typeof HealthGates>;
export type ResourceQuota = z.infer<typeof Quota>;

export { formatPath };

/** Parses and validates a policies file; throws Invalid naming `file:line: key.path: problem` for every problem. */
export function parsePolicy(text: string, file = ".odooops/policies.yaml"): Policy {
  const checked = checkPolicy(text, file);
  if (checked.ok) return checked.policy;
  throw new Invalid(`${checked.yaml ? "invalid YAML in" : "invalid policy:"} ${checked.problems.join("; ")}`, {
    problems: checked.problems,
  });
}

export type PolicyCheck = { ok: true; policy: Policy } | { ok: false; yaml: boolean; problems: string[] };

/** Every problem of a policies file, each `file:line: key.path: problem` (YAML syntax errors: `file:line: message`). */
export function checkPolicy(text: string, file = ".odooops/policies.yaml"): PolicyCheck {
  const checked = checkYamlDocument(PolicySchema, text, file);
  return checked.ok ? { ok: true, policy: checked.value } : checked;
}
