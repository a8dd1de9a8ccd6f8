import { sql } from "drizzle-orm";
import { integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { createdAt, id } from "../state/columns";

/** What an agent reports about its machine at every heartbeat (see src/fleet/inventory.ts). */
export interface HostInventory {
  cores: number;
  memoryMb: number;
  diskFreeMb: number;
  load: number;
  docker: string | null;
  postgres: string | null;
  nginx: string | null;
  agentVersion: string;
}

/** An odooops container as the agent's docker sees it. */
export interface HostContainer {
  name: string;
  state: string;
  env: string | null;
}

/** What an env stores on its agent's host, measured there (the coordinator cannot see that cluster). */
export interface HostEnvDisk {
  env: string;
  databaseBytes: number | null;
  filestoreBytes: number | null;
  measuredAt: string;
}

export const hosts = sqliteTable(
  "hosts",
  {
    id: id(),
    name: text("name").notNull(),
    role: text("role", { enum: ["standalone", "coordinator", "agent"] }).notNull(),
    address: text("address"),
    status: text("status", { enum: ["online", "offline", "enrolling"] })
      .notNull()
      .default("online"),
    lastHeartbeatAt: text("last_heartbeat_at"),
    inventory: text("inventory", { mode: "json" }).$type<HostInventory>(),
    containers: text("containers", { mode: "json" }).$type<HostContainer[]>(),
    /** The disk use of the envs on the host, from its last heartbeat that carried it. */
    envDisk: text("env_disk", { mode: "json" }).$type<HostEnvDisk[]>(),
    labels: text("labels", { mode: "json" }).$type<Record<string, string>>().notNull().default({}),
    /** A draining host keeps its envs but gets no new placements. */
    draining: integer("draining", { mode: "boolean" }).notNull().default(false),
    /** sha256 of the agent's credential (src/fleet/credentials.ts); null = none (local host, or revoked). */
    credentialHash: text("credential_hash"),
    /**
     * sha256 of a new credential handed to the agent and not used yet: both work until the agent's
     * first request with the new one, which makes it the credential (a lost answer locks no one out).
     */
    pendingCredentialHash: text("pending_credential_hash"),
    /** `host rotate-credential`: the agent fetches a new credential at its next heartbeat. */
    credentialRotationRequestedAt: text("credential_rotation_requested_at"),
    /** When the agent last switched to a new credential (the old one has been refused since). */
    credentialRotatedAt: text("credential_rotated_at"),
    createdAt: createdAt(),
    /** `host remove`: the row stays (envs and jobs point at it), the name is free again. */
    removedAt: text("removed_at"),
  },
  (t) => [
    uniqueIndex("hosts_live_name").on(t.name).where(sql`removed_at IS NULL`),
    // Every agent request looks its host up by credential: a thousand agents must not mean a
    // table scan per heartbeat.
    uniqueIndex("hosts_credential_hash").on(t.credentialHash),
    uniqueIndex("hosts_pending_credential_hash").on(t.pendingCredentialHash),
  ],
);

/** One-time enrollment tokens: only the secret's sha256 is kept; `usedAt` makes them single use. */
export const joinTokens = sqliteTable("join_tokens", {
  id: id(),
  secretHash: text("secret_hash").notNull().unique(),
  /** The name the joining host gets (else the name it reports). */
  name: text("name"),
  labels: text("labels", { mode: "json" }).$type<Record<string, string>>().notNull().default({}),
  expiresAt: text("expires_at").notNull(),
  usedAt: text("used_at"),
  hostId: text("host_id").references(() => hosts.id),
  createdBy: text("created_by"),
  createdAt: createdAt(),
});

/**
 * An env move's target copy, held apart from the env row until the switch (src/fleet/move-pending.ts):
 * the columns the target's create and restore reported. The row keeps the serving copy's
 * meanwhile, so everything reading it (env get, routing, the uptime probe) sees the copy that answers.
 */
export const envMovePending = sqliteTable("env_move_pending", {
  envId: text("env_id").primaryKey(),
  columns: text("columns", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
});
