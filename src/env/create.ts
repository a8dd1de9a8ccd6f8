/**
 * Validation and planning of `env create`: everything that can be refused is refused here,
 * before any row, container or database exists.
 */
import { and, eq, ne, sql } from "drizzle-orm";
import { type SecretBox, randomSecret } from "../auth/secretbox";
import type { Config } from "../config/schema";
import { Conflict, Invalid } from "../errors";
import type { PlacedHost, PlaceRequest } from "../fleet/service";
import type { Db } from "../state/db";
import { now } from "../state/columns";
import { environments, type Environment } from "./env.sql";
import { dbIdentifier, defaultDomain, slugify, validateBranch, validateDomain } from "./naming";
import { projectPolicy } from "../policy/load";
import { capLimits, checkRequested } from "../policy/quota";
import { checkRequestedFitsHost, clampToHost, type HostCapacity, hostCapacity } from "./host-fit";
import { resourcePlan } from "./plan";
import { resolveProject } from "./projects";
import type { CreateEnvRequest } from "./schema";
import { newOdooPassword } from "./odoo-admin";
import { expiryAtCreate } from "./ttl";

export function envDomain(config: Config, slug: string, tier: Environment["tier"], explicit?: string): string {
  if (explicit) return validateDomain(explicit);
  return defaultDomain(slug, config.tiers[tier].subdomain, config.baseDomain);
}

export interface CreatePlan {
  name: string;
  slug: string;
  tier: Environment["tier"];
  branch: string | null;
  projectId: string;
  domain: string;
  odooImage: string;
  dbName: string;
  modules: string[];
  demo: boolean;
  resources: ReturnType<typeof resourcePlan>;
  /** What was adjusted to fit and why (a tier's limits lowered to this host). */
  notes: string[];
  /** An earlier failed attempt with this name, reused by a rerun. */
  retryOf: string | null;
  /** From the project's `ttl_policies`; null = never. */
  expiresAt: string | null;
  /** The fleet host chosen and why; null on a standalone host (the env runs here, with no host id). */
  host: Omit<PlacedHost, "capacity"> | null;
}

/** A fleet's placement (FleetService.place): null = standalone, nothing placed. */
export type HostPicker = (req: PlaceRequest) => PlacedHost | null;

/**
 * `host`: the machine's size on a standalone host (tests pass one), or the fleet's picker, which
 * chooses a host (or answers null: standalone, this machine).
 */
export function planCreate(db: Db, config: Config, req: CreateEnvRequest, host: HostCapacity | HostPicker): CreatePlan {
  const slug = slugify(req.name);
  const branch = req.branch === undefined ? null : validateBranch(req.branch);
  const tier = req.tier;
  const project = resolveProject(db, req.project);
  const live = db
    .select()
    .from(environments)
    .where(and(eq(environments.slug, slug), ne(environments.status, "destroyed")))
    .get();
  if (live && live.status !== "failed") {
    throw new Conflict(`environment ${slug} already exists (${live.status}, tier ${live.tier})`);
  }
  if (branch) {
    const holder = db
      .select({ slug: environments.slug })
      .from(environments)
      .where(
        and(
          eq(environments.projectId, project.id),
          eq(environments.branch, branch),
          ne(environments.status, "destroyed"),
          ne(environments.slug, slug),
        ),
      )
      .get();
    if (holder)
      throw new Conflict(
        `branch ${branch} is already deployed by environment ${holder.slug} in project ${project.name}`,
      );
  }
  const domain = envDomain(config, slug, tier, req.domain);
  const sameDomain = db
    .select({ slug: environments.slug, status: environments.status })
    .from(environments)
    .where(and(eq(environments.domain, domain), ne(environments.status, "destroyed"), ne(environments.slug, slug)))
    .get();
  // One vhost and one certificate per name: a second env would take over the first one's traffic
  // (nginx serves the first server_name it loaded) or its certificate.
  if (sameDomain) {
    throw new Conflict(
      `domain ${domain} is already used by environment ${sameDomain.slug} (${sameDomain.status}); choose another with --domain`,
    );
  }
  const tierConfig = config.tiers[tier];
  const quota = projectPolicy(db, project.id).resource_quotas[tier];
  const requested = { workers: req.workers, cpus: req.cpus, memoryMb: req.memoryMb };
  checkRequested(requested, quota, tier);
  const capped = capLimits(
    {
      workers: req.workers ?? tierConfig.workers,
      cpus: req.cpus ?? tierConfig.cpus,
      memoryMb: req.memoryMb ?? tierConfig.memoryMb,
    },
    quota,
  );
  const count = db
    .select({ n: sql<number>`count(*)` })
    .from(environments)
    .where(and(eq(environments.tier, tier), ne(environments.status, "destroyed"), ne(environments.slug, slug)))
    .get()!.n;
  if (count >= tierConfig.maxEnvs) {
    throw new Invalid(
      `tier ${tier} allows ${tierConfig.maxEnvs} environments and has ${count} (config tiers.${tier}.maxEnvs)`,
    );
  }
  // In a fleet the host is chosen first, and the limits are fitted to that host's machine.
  const placed =
    typeof host === "function"
      ? host({
          need: { cpus: capped.cpus, memoryMb: capped.memoryMb, diskMb: tierConfig.storageGb * 1024 },
          lowerable: (["cpus", "memoryMb"] as const).filter((k) => requested[k] === undefined),
          ...(req.host !== undefined ? { host: req.host } : {}),
          ...(req.labels !== undefined ? { labels: req.labels } : {}),
          retry: live ? { envId: live.id, hostId: live.hostId } : null,
        })
      : null;
  const capacity = placed?.capacity ?? (typeof host === "function" ? hostCapacity() : host);
  checkRequestedFitsHost(requested, capacity);
  const fitted = clampToHost(capped, capacity, tier);
  const limits = fitted.limits;
  return {
    name: req.name,
    slug,
    tier,
    branch,
    projectId: project.id,
    domain,
    odooImage: req.odooImage ?? config.odoo.image,
    dbName: dbIdentifier(slug),
    modules: req.modules ?? config.odoo.modules,
    demo: req.demo ?? tierConfig.demo,
    resources: resourcePlan(tier, { ...tierConfig, ...limits }),
    notes: fitted.notes,
    retryOf: live?.id ?? null,
    expiresAt: expiryAtCreate(db, project.id, tier, new Date()),
    host: placed && { id: placed.id, name: placed.name, why: placed.why, passedOver: placed.passedOver },
  };
}

/** Stores the env row (status `creating`) with fresh secrets sealed at rest. */
export function insertEnvironment(db: Db, box: SecretBox, plan: CreatePlan, createdBy: string): Environment {
  const values = {
    projectId: plan.projectId,
    name: plan.name,
    slug: plan.slug,
    branch: plan.branch,
    tier: plan.tier,
    status: "creating" as const,
    statusReason: null,
    // A rerun of a failed create starts over on HTTPS too.
    httpFallbackReason: null,
    odooImage: plan.odooImage,
    domain: plan.domain,
    dbName: plan.dbName,
    dbUser: plan.dbName,
    dbPasswordEnc: box.seal(randomSecret(24)),
    adminPasswdEnc: box.seal(randomSecret(24)),
    // A rerun replaces it too: a failed create never showed it, and its step sets it again.
    odooAdminPasswordEnc: box.seal(newOdooPassword()),
    workers: plan.resources.workers,
    cpus: String(plan.resources.cpus),
    memoryMb: plan.resources.memoryMb,
    modules: plan.modules,
    demo: plan.demo,
    ttlExpiresAt: plan.expiresAt,
    ttlWarnedAt: null,
    hostId: plan.host?.id ?? null,
    createdBy,
    updatedAt: now(),
  };
  if (plan.retryOf) {
    // A rerun keeps the row (and its sealed passwords, which a half-created role may already use).
    const { dbPasswordEnc: _p, adminPasswdEnc: _a, ...rest } = values;
    return db.update(environments).set(rest).where(eq(environments.id, plan.retryOf)).returning().get();
  }
  return db.insert(environments).values(values).returning().get();
}
