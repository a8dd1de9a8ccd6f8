/** Wire shapes of the fleet: the user API (hosts, join tokens) and the agent API (join, heartbeat). */
import { z } from "@hono/zod-openapi";
import { stepStatuses } from "../jobs/jobs.sql";

/** Where the coordinator's agent listener serves the agent API. */
export const AGENT_API_BASE = "/api/v1/agent";

const LabelsSchema = z.record(z.string(), z.string()).openapi({ example: { region: "eu" } });

export const InventorySchema = z
  .object({
    cores: z.number().int().min(0).max(4096),
    memoryMb: z.number().int().min(0),
    diskFreeMb: z.number().int().min(0),
    load: z.number().min(0),
    docker: z.string().max(64).nullable(),
    postgres: z.string().max(64).nullable(),
    nginx: z.string().max(64).nullable(),
    agentVersion: z.string().min(1).max(64),
  })
  .strict()
  .openapi("HostInventory");

export const ContainerSchema = z
  .object({ name: z.string().max(255), state: z.string().max(32), env: z.string().max(64).nullable() })
  .strict();

export const HostViewSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    role: z.enum(["standalone", "coordinator", "agent"]),
    status: z.enum(["online", "offline"]),
    offlineSince: z.string().nullable(),
    draining: z.boolean(),
    labels: LabelsSchema,
    lastHeartbeatAt: z.string().nullable(),
    agentVersion: z.string().nullable(),
    inventory: InventorySchema.nullable(),
    containers: z.array(ContainerSchema),
    envs: z.array(z.string()),
    createdAt: z.string(),
  })
  .openapi("Host");

export const CreateJoinTokenRequest = z
  .object({
    ttl: z.string().max(16).optional().openapi({ description: "how long it is valid: 90s, 15m (default), 2h" }),
    name: z.string().max(63).optional().openapi({ description: "the name the host gets" }),
    labels: LabelsSchema.optional(),
  })
  .strict()
  .openapi("CreateJoinTokenRequest");

export const JoinTokenSchema = z
  .object({
    id: z.string(),
    token: z.string().openapi({ description: "shown once: odooops init --role agent --join-token …" }),
    joinUrl: z.string(),
    fingerprint: z.string(),
    expiresAt: z.string(),
  })
  .openapi("JoinToken");

export const LabelsRequest = z
  .object({ set: LabelsSchema.default({}), remove: z.array(z.string().max(64)).max(32).default([]) })
  .strict()
  .openapi("HostLabelsRequest");

export const DrainRequest = z.object({ draining: z.boolean() }).strict().openapi("HostDrainRequest");

export const RemovalSchema = z
  .object({ host: z.string(), abandonedEnvs: z.array(z.string()), failedJobs: z.number().int() })
  .openapi("HostRemoval");

export const JoinRequest = z
  .object({ token: z.string().min(1).max(1024), name: z.string().min(1).max(63), inventory: InventorySchema })
  .strict();
export const JoinResponse = z.object({
  hostId: z.string(),
  name: z.string(),
  credential: z.string(),
  heartbeatSec: z.number(),
});
export const HeartbeatRequest = z
  .object({ inventory: InventorySchema, containers: z.array(ContainerSchema).max(10_000) })
  .strict();
export const HeartbeatResponse = z.object({ heartbeatSec: z.number() });

const Owner = z.string().min(1).max(200);
export const LeaseRequest = z
  .object({
    owner: Owner,
    leaseMs: z.number().int().min(1000).max(600_000),
    waitMs: z.number().int().min(0).max(60_000).default(0),
  })
  .strict();
export const JobHeartbeatRequest = z
  .object({ owner: Owner, leaseMs: z.number().int().min(1000).max(600_000) })
  .strict();
export const StepRequest = z
  .object({
    owner: Owner,
    idx: z.number().int().min(0).max(1000),
    patch: z
      .object({
        status: z.enum(stepStatuses),
        output: z.record(z.string(), z.unknown()).nullable().optional(),
        error: z.string().max(100_000).nullable().optional(),
        startedAt: z.string().max(40).nullable().optional(),
        finishedAt: z.string().max(40).nullable().optional(),
        durationMs: z.number().nullable().optional(),
      })
      .strict(),
  })
  .strict();
export const LogRequest = z.object({ owner: Owner, lines: z.array(z.string().max(100_000)).max(10_000) }).strict();
export const FinishRequest = z
  .object({
    owner: Owner,
    outcome: z.discriminatedUnion("status", [
      z.object({ status: z.literal("succeeded"), result: z.record(z.string(), z.unknown()).nullable() }).strict(),
      z.object({ status: z.enum(["failed", "cancelled"]), error: z.string().max(100_000) }).strict(),
    ]),
  })
  .strict();
