import { z } from "@hono/zod-openapi";
import { ENV_STATUSES, TIERS } from "./vocabulary";

export const Tier = z.enum(TIERS).openapi("Tier");

export const EnvSummary = z
  .object({
    id: z.string(),
    name: z.string(),
    slug: z.string(),
    tier: Tier,
    status: z.enum(ENV_STATUSES),
    statusReason: z.string().nullable(),
    branch: z.string().nullable(),
    url: z.string(),
    odooImage: z.string(),
    createdBy: z.string().nullable(),
    createdAt: z.string(),
    /** When the TTL sweep destroys it; null = never (`env extend` moves it). */
    expiresAt: z.string().nullable(),
    /** The fleet host it runs on; null = the coordinator's own host (created standalone). */
    host: z.string().nullable(),
    /** A move of the env (env move): "moving to H (job J, since T)" while it runs; null when none. */
    move: z.string().nullable(),
  })
  .openapi("EnvironmentSummary");

export const EnvListQuery = z.object({
  tier: Tier.optional(),
  status: z.enum(ENV_STATUSES).optional(),
  includeDestroyed: z
    .enum(["true", "false"])
    .optional()
    .transform((v) => v === "true"),
});

export type EnvSummary = z.infer<typeof EnvSummary>;

const ModuleName = z.string().regex(/^[a-z0-9_]+$/, "module names are lowercase letters, digits and _");

export const CreateEnvRequest = z
  .object({
    name: z.string().min(1).max(200),
    tier: Tier,
    branch: z.string().max(200).optional(),
    project: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/)
      .optional(),
    odooImage: z
      .string()
      .regex(
        /^[a-z0-9][a-z0-9._\/-]*(:[A-Za-z0-9._-]+)?(@sha256:[a-f0-9]{64})?$/,
        "a docker image reference like odoo:17.0",
      )
      .optional(),
    domain: z.string().max(253).optional(),
    modules: z.array(ModuleName).min(1).max(200).optional(),
    demo: z.boolean().optional(),
    /** Limits other than the tier's; refused above the policy's resource quota for the tier. */
    workers: z.number().int().min(0).max(64).optional(),
    cpus: z.number().positive().max(64).optional(),
    memoryMb: z.number().int().min(256).max(1_048_576).optional(),
    /** Fleet placement: on this host, or on a host with these labels (checked by src/fleet/labels.ts). */
    host: z.string().min(1).max(63).optional(),
    labels: z.record(z.string().max(64), z.string().max(63)).optional(),
    dryRun: z.boolean().optional(),
  })
  .strict()
  .openapi("CreateEnvironmentRequest");
export type CreateEnvRequest = z.infer<typeof CreateEnvRequest>;

export const ExtendEnvRequest = z
  .object({
    ttl: z
      .string()
      .regex(/^(never|[1-9]\d{0,4}[hd])$/, "a TTL like 12h, 3d or never")
      .openapi({ example: "3d" }),
  })
  .strict()
  .openapi("ExtendEnvironmentRequest");

export const EnvDetail = EnvSummary.extend({
  domain: z.string(),
  databaseUrl: z.string(),
  workers: z.number(),
  cpus: z.number(),
  memoryMb: z.number(),
  modules: z.array(z.string()),
  demo: z.boolean(),
  httpPort: z.number().nullable(),
  longpollPort: z.number().nullable(),
  currentRelease: z.number().nullable(),
  disk: z.object({
    databaseBytes: z.number().nullable(),
    filestoreBytes: z.number().nullable(),
    /** The host the sizes come from (its agent measures them); null for an env with no host row. */
    measuredOn: z.string().nullable(),
    /** When they were measured; null when the env's agent has not reported them yet. */
    measuredAt: z.string().nullable(),
  }),
  /** The tier's storage quota (resource_quotas.<tier>.storage) against database + filestore; above it deploys are refused. */
  storageQuota: z.object({
    quotaBytes: z.number().nullable(),
    usedBytes: z.number(),
    exceeded: z.boolean(),
    /** What could not be measured; with a quota, deploys are refused until it can be. */
    unknown: z.string().nullable(),
  }),
  updatedAt: z.string().nullable(),
  /** The env's next job is queued for its host, which is offline: "job J (kind) waiting for host H (…)". */
  waitingForHost: z.string().nullable(),
}).openapi("EnvironmentDetail");
export type EnvDetail = z.infer<typeof EnvDetail>;
