/** Finding environments and what they hold on the host. */
import { and, desc, eq, ne, or } from "drizzle-orm";
import { NotFound } from "../errors";
import { run } from "../exec/run";
import type { Deps } from "../deps";
import type { Db } from "../state/db";
import { environments, type Environment } from "./env.sql";
import { envHost } from "./host";
import { LABEL_ENV } from "./resources";

export function loadEnvById(db: Db, id: string): Environment {
  const env = db.select().from(environments).where(eq(environments.id, id)).get();
  if (!env) throw new NotFound(`no environment with id ${id}`);
  return env;
}

/** A live environment by name or slug (destroyed ones are history, not targets). */
export function findEnv(db: Db, nameOrSlug: string): Environment {
  const env = db
    .select()
    .from(environments)
    .where(
      and(
        or(eq(environments.slug, nameOrSlug), eq(environments.name, nameOrSlug)),
        ne(environments.status, "destroyed"),
      ),
    )
    .get();
  if (!env) throw new NotFound(`no environment ${nameOrSlug} (see: odooops env list)`);
  return env;
}

/**
 * The live environment of that name, else the one destroyed last: its backups outlive it for
 * `backups.keepDestroyedDays`, so it stays a source to restore from (never a target).
 */
export function findEnvOrDestroyed(db: Db, nameOrSlug: string): Environment {
  const named = or(eq(environments.slug, nameOrSlug), eq(environments.name, nameOrSlug));
  const env =
    db
      .select()
      .from(environments)
      .where(and(named, ne(environments.status, "destroyed")))
      .get() ??
    db
      .select()
      .from(environments)
      .where(and(named, eq(environments.status, "destroyed")))
      .orderBy(desc(environments.destroyedAt), desc(environments.id))
      .get();
  if (!env) throw new NotFound(`no environment ${nameOrSlug}, live or destroyed (see: odooops env list)`);
  return env;
}

/** Every environment that had this name or slug, live and destroyed. */
export function envsNamed(db: Db, nameOrSlug: string): Environment[] {
  return db
    .select()
    .from(environments)
    .where(or(eq(environments.slug, nameOrSlug), eq(environments.name, nameOrSlug)))
    .all();
}

/** Ports held by live environments other than `exceptId`. */
export function takenPorts(db: Db, exceptId: string): Set<number> {
  const rows = db
    .select({ http: environments.httpPort, lp: environments.longpollPort })
    .from(environments)
    .where(and(ne(environments.status, "destroyed"), ne(environments.id, exceptId)))
    .all();
  return new Set(rows.flatMap((r) => [r.http, r.lp]).filter((p): p is number => p !== null));
}

/** Removes every container labelled for this env (web releases, init leftovers). */
export async function removeEnvContainers(
  deps: Pick<Deps, "config" | "paths">,
  env: Pick<Environment, "id">,
): Promise<string[]> {
  const host = envHost(deps);
  const containers = await host.dockerClient.listByLabel(LABEL_ENV, env.id);
  // Only this host's: a moved env carries its id to another odooops sharing the docker daemon
  // (the fleet's tests do), whose copy of it is not ours to remove.
  const mine = `${deps.config.docker.namePrefix}-`;
  const names = containers.map((c) => c.Name.replace(/^\//, "")).filter((n) => n.startsWith(mine));
  for (const name of names) await run(host.docker.rm(name, { force: true }), { nothrow: true });
  return names;
}
