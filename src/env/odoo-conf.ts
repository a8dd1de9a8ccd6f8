/** The odoo.conf of an env, or of a throwaway database beside it (tests, rehearsals). */
import { chmodSync, chownSync, writeFileSync } from "node:fs";
import type { Deps } from "../deps";
import { renderOdooConf, resourcePlan } from "./plan";
import type { Environment } from "./env.sql";

export interface DbLogin {
  name: string;
  user: string;
  password: string;
}

export function odooConfFor(deps: Pick<Deps, "config" | "box">, env: Environment, db?: DbLogin): string {
  const { config, box } = deps;
  return renderOdooConf({
    slug: env.slug,
    tier: env.tier,
    dbHost: config.postgres.containerHost,
    dbPort: config.postgres.port,
    dbName: db?.name ?? env.dbName,
    dbUser: db?.user ?? env.dbUser,
    dbPassword: db?.password ?? box.open(env.dbPasswordEnc),
    adminPasswd: box.open(env.adminPasswdEnc),
    demo: env.demo,
    // The env's own limits (its tier's, capped by the policy's resource quota), not the tier's.
    plan: resourcePlan(env.tier, {
      ...config.tiers[env.tier],
      workers: env.workers,
      cpus: Number(env.cpus),
      memoryMb: env.memoryMb,
    }),
  });
}

/** Written 0640 root:<odoo gid>: it holds a database password, and only the container's group reads it. */
export function writeOdooConf(deps: Pick<Deps, "config">, file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o640 });
  chmodSync(file, 0o640);
  chownSync(file, 0, deps.config.odoo.gid);
}
