import { z } from "@hono/zod-openapi";
import { envStatuses } from "./env.sql";

export const Tier = z.enum(["dev", "dev_ephemeral", "staging", "production"]).openapi("Tier");

export const EnvSummary = z
  .object({
    id: z.string(),
    name: z.string(),
    slug: z.string(),
    tier: Tier,
    status: z.enum(envStatuses),
    statusReason: z.string().nullable(),
    branch: z.string().nullable(),
    url: z.string(),
    odooImage: z.string(),
    createdBy: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi("EnvironmentSummary");

export const EnvListQuery = z.object({
  tier: Tier.optional(),
  status: z.enum(envStatuses).optional(),
  includeDestroyed: z
    .enum(["true", "false"])
    .optional()
    .transform((v) => v === "true"),
});

export type EnvSummary = z.infer<typeof EnvSummary>;
