import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { hosts } from "../fleet/fleet.sql";
import { createdAt, id } from "../state/columns";
import { ENV_STATUSES, TIERS } from "./vocabulary";

export const projects = sqliteTable("projects", {
  id: id(),
  name: text("name").notNull().unique(),
  /** Without its password: an https password is in repoPasswordEnc. */
  repoUrl: text("repo_url"),
  /** The repository URL's password (percent-encoded, as given), encrypted at rest (see src/auth/secretbox.ts). */
  repoPasswordEnc: text("repo_password_enc"),
  defaultBranch: text("default_branch").notNull().default("main"),
  /** Encrypted at rest (see src/auth/secretbox.ts). */
  webhookSecretEnc: text("webhook_secret_enc"),
  /** The HTTP basic-auth password of the project's protected tiers (sealed); set when first needed. */
  accessPasswordEnc: text("access_password_enc"),
  createdAt: createdAt(),
});

export const environments = sqliteTable(
  "environments",
  {
    id: id(),
    projectId: text("project_id")
      .notNull()
      .references(() => projects.id),
    name: text("name").notNull(),
    slug: text("slug").notNull(),
    branch: text("branch"),
    tier: text("tier", { enum: TIERS }).notNull(),
    status: text("status", { enum: ENV_STATUSES }).notNull().default("creating"),
    statusReason: text("status_reason"),
    /**
     * Set while the env is served over plain HTTP because HTTPS could not be enabled (why, and how
     * to retry); cleared when a certificate is served. Kept apart from the status and its reason.
     */
    httpFallbackReason: text("http_fallback_reason"),
    hostId: text("host_id").references(() => hosts.id),
    /**
     * An env move under way (src/fleet/move-job.ts), on the coordinator only (never sent to agents):
     * the host taking the env over, until the switch; `hostId` stays the old host, which keeps
     * owning the env (its jobs, backups, renewals, routing) until then.
     */
    movingToHostId: text("moving_to_host_id").references(() => hosts.id),
    /** After the switch: the host the env left, until its copy there is removed. */
    movedFromHostId: text("moved_from_host_id").references(() => hosts.id),
    odooImage: text("odoo_image").notNull(),
    domain: text("domain").notNull(),
    dbName: text("db_name").notNull(),
    dbUser: text("db_user").notNull(),
    dbPasswordEnc: text("db_password_enc").notNull(),
    adminPasswdEnc: text("admin_passwd_enc").notNull(),
    /** Odoo's `admin` user's password (sealed); null for envs created before odooops set one. */
    odooAdminPasswordEnc: text("odoo_admin_password_enc"),
    httpPort: integer("http_port"),
    longpollPort: integer("longpoll_port"),
    workers: integer("workers").notNull().default(0),
    cpus: text("cpus").notNull(),
    memoryMb: integer("memory_mb").notNull(),
    modules: text("modules", { mode: "json" }).$type<string[]>().notNull(),
    demo: integer("demo", { mode: "boolean" }).notNull().default(false),
    currentDeploymentId: text("current_deployment_id"),
    /** The serving Odoo container; deploys replace it with the next release's. */
    containerName: text("container_name"),
    release: integer("release").notNull().default(0),
    /** Null = never expires. Set at create from the project's `ttl_policies`; `env extend` moves it. */
    ttlExpiresAt: text("ttl_expires_at"),
    /** When the 24 h warning went out for the current expiry (cleared when it moves). */
    ttlWarnedAt: text("ttl_warned_at"),
    createdBy: text("created_by"),
    createdAt: createdAt(),
    updatedAt: text("updated_at"),
    destroyedAt: text("destroyed_at"),
  },
  (t) => [
    uniqueIndex("environments_live_slug").on(t.slug).where(sql`status <> 'destroyed'`),
    uniqueIndex("environments_live_branch")
      .on(t.projectId, t.branch)
      .where(sql`status <> 'destroyed' AND branch IS NOT NULL`),
    index("environments_tier").on(t.tier),
  ],
);

/** One environment as stored (writes go through src/env/state.ts). */
export type Environment = typeof environments.$inferSelect;
