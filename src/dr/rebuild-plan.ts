/**
 * `dr rebuild`: after `dr restore-state` the state knows every env but the host has none of them.
 * This module decides, per env and without touching the host beyond `docker image inspect`,
 * which backup and which image a rebuild would use; rebuild-job.ts does the work.
 */
import { existsSync } from "node:fs";
import { and, desc, eq, ne } from "drizzle-orm";
import { z } from "@hono/zod-openapi";
import type { Config } from "../config/schema";
import type { CoordinatorDeps, Deps } from "../deps";
import { backups } from "../db/backup.sql";
import type { BackupSource } from "../db/backup";
import { deployments } from "../deploy/deploy.sql";
import { registryRef } from "../deploy/push";
import { projectRepo } from "../deploy/source";
import { environments, type Environment } from "../env/env.sql";
import { envHost } from "../env/host";
import { findEnv } from "../env/lookup";
import { errorText, Invalid } from "../errors";
import type { Db } from "../state/db";

/** Production is back first: it is what customers wait for. */
const TIER_ORDER: Record<string, number> = { production: 0, staging: 1, dev: 2, dev_ephemeral: 3 };

export function rebuildOrder<T extends Pick<Environment, "tier" | "slug">>(envs: T[]): T[] {
  return [...envs].sort(
    (a, b) => (TIER_ORDER[a.tier] ?? 9) - (TIER_ORDER[b.tier] ?? 9) || a.slug.localeCompare(b.slug),
  );
}

/** The envs a rebuild is about: every one not destroyed (creating/destroying ones never finished). */
export function rebuildTargets(db: Db, env: string | undefined): Environment[] {
  if (env !== undefined) {
    const e = findEnv(db, env);
    if (e.status !== "active" && e.status !== "stopped" && e.status !== "failed")
      throw new Invalid(`environment ${e.slug} is ${e.status}: only an active, stopped or failed env is rebuilt`);
    return [e];
  }
  const live = db.select().from(environments).where(ne(environments.status, "destroyed")).all();
  return rebuildOrder(live.filter((e) => e.status === "active" || e.status === "stopped" || e.status === "failed"));
}

export type BackupRow = typeof backups.$inferSelect;

/**
 * Where a backup can be read on THIS host: its local copy only if the directory is still there
 * (after a lost host the state still names the old host's paths), else its S3 copy.
 */
export function rebuildSource(config: Config, row: BackupRow, dirExists = existsSync): BackupSource | null {
  if (row.localPath && dirExists(row.localPath)) return { kind: "local", dir: row.localPath };
  if (row.s3Key && config.backups.s3) return { kind: "s3", target: config.backups.s3, prefix: row.s3Key };
  return null;
}

/** Completed backups of the env that this host can read, newest first. */
export function readableBackups(
  deps: Pick<Deps, "db" | "config">,
  envId: string,
  dirExists = existsSync,
): { row: BackupRow; source: BackupSource }[] {
  const rows = deps.db
    .select()
    .from(backups)
    .where(and(eq(backups.envId, envId), eq(backups.status, "completed")))
    .orderBy(desc(backups.createdAt), desc(backups.id))
    .all();
  return rows.flatMap((row) => {
    const source = rebuildSource(deps.config, row, dirExists);
    return source ? [{ row, source }] : [];
  });
}

/** The image the env serves: its current deployment's release image, else the env's Odoo image. */
export function servingImage(db: Db, env: Pick<Environment, "currentDeploymentId" | "odooImage">) {
  const d = env.currentDeploymentId
    ? db.select().from(deployments).where(eq(deployments.id, env.currentDeploymentId)).get()
    : undefined;
  if (d?.image) return { image: d.image, release: true, commit: d.commitSha };
  return { image: env.odooImage, release: false, commit: null };
}

export const ImageFrom = z.enum(["local", "registry", "pull", "build"]);
export type ImageFrom = z.infer<typeof ImageFrom>;

/**
 * Where the image comes from, given whether it is on this host: a release image was built on the
 * lost host, so it is pulled from `deploy.registry` when there is one (the job builds it when that
 * pull fails), else built again from the deployed commit; a plain Odoo image is pulled by its
 * name. null: nowhere (the reason says why).
 */
export function imagePlan(
  config: Pick<Config, "deploy">,
  img: { image: string; release: boolean; commit: string | null },
  presentLocally: boolean,
): { from: ImageFrom; pull: string | null } | { from: null; reason: string } {
  if (presentLocally) return { from: "local", pull: null };
  if (!img.release) return { from: "pull", pull: img.image };
  if (config.deploy.registry !== "") return { from: "registry", pull: registryRef(config.deploy.registry, img.image) };
  if (img.commit) return { from: "build", pull: null };
  return {
    from: null,
    reason: `release image ${img.image} is not on this host, no deploy.registry is configured to pull it from and no commit is recorded to build it from; load it (docker load) or set deploy.registry, then rerun`,
  };
}

export const RebuildPlanEntry = z.object({
  env: z.string(),
  tier: z.string(),
  status: z.string(),
  backup: z
    .object({ id: z.string(), createdAt: z.string(), ageSeconds: z.number(), from: z.enum(["local", "s3"]) })
    .nullable(),
  image: z.object({ ref: z.string(), from: ImageFrom.nullable() }),
  refused: z.string().nullable(),
});
export type RebuildPlanEntry = z.infer<typeof RebuildPlanEntry>;

/** One env's plan; `refused` when the rebuild cannot work (no backup, no image source). */
export async function planEnv(deps: Pick<Deps, "db" | "config" | "paths" | "box">, env: Environment, now = Date.now()) {
  const [newest] = readableBackups(deps, env.id);
  const img = servingImage(deps.db, env);
  const present = (await envHost(deps).dockerClient.inspectImage(img.image)) !== null;
  const where = imagePlan(deps.config, img, present);
  const refusals: string[] = [];
  if (!newest)
    refusals.push(
      `no completed backup of ${env.slug} readable from this host (none in state, or only local copies of the lost host and no backups.s3)`,
    );
  if (where.from === null) refusals.push(where.reason);
  // A build fetches the commit from the project's repository: without one there is nothing to fetch.
  if (where.from === "build")
    try {
      projectRepo(deps, env);
    } catch (e) {
      refusals.push(`cannot build ${img.image} again from commit ${img.commit?.slice(0, 12)}: ${errorText(e)}`);
    }
  const entry: RebuildPlanEntry = {
    env: env.slug,
    tier: env.tier,
    status: env.status,
    backup: newest
      ? {
          id: newest.row.id,
          createdAt: newest.row.createdAt,
          ageSeconds: Math.max(0, Math.round((now - Date.parse(newest.row.createdAt)) / 1000)),
          from: newest.source.kind,
        }
      : null,
    image: { ref: img.image, from: where.from },
    refused: refusals.length > 0 ? refusals.join("; ") : null,
  };
  return entry;
}

export async function planRebuild(deps: CoordinatorDeps, env: string | undefined): Promise<RebuildPlanEntry[]> {
  const out: RebuildPlanEntry[] = [];
  for (const e of rebuildTargets(deps.db, env)) out.push(await planEnv(deps, e));
  return out;
}
