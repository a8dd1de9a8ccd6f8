import { eq } from "drizzle-orm";
import { NotFound } from "../errors";
import type { Db } from "../state/db";
import { projects } from "./env.sql";

export const DEFAULT_PROJECT = "default";

/** The project an env belongs to; `default` exists implicitly so a single-repo host needs no setup. */
export function resolveProject(db: Db, name: string | undefined) {
  const wanted = name ?? DEFAULT_PROJECT;
  const found = db.select().from(projects).where(eq(projects.name, wanted)).get();
  if (found) return found;
  if (wanted !== DEFAULT_PROJECT) throw new NotFound(`no project ${wanted}; add it with \`odooops project add\``);
  return db.insert(projects).values({ name: DEFAULT_PROJECT }).onConflictDoNothing().returning().get() ??
    db.select().from(projects).where(eq(projects.name, DEFAULT_PROJECT)).get()!;
}
