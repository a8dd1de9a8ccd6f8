import { and, eq, isNull } from "drizzle-orm";
import { randomSecret, type SecretBox } from "../auth/secretbox";
import { Invalid, NotFound } from "../errors";
import type { Db } from "../state/db";
import { validateBranch, validateRepoUrl } from "../git/validate";
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

export interface ProjectSettings {
  repoUrl?: string | null;
  defaultBranch?: string;
  /** The GitHub webhook secret (stored sealed); null removes it, which makes every delivery 401. */
  webhookSecret?: string | null;
}

/** GitHub accepts any string; shorter than 16 characters is guessable, so it is refused here. */
function sealWebhookSecret(box: SecretBox, secret: string): string {
  if (secret.length < 16 || secret.length > 256 || !/^[\x21-\x7e]+$/.test(secret)) {
    throw new Invalid("webhook secret must be 16 to 256 printable ASCII characters without spaces (e.g. `openssl rand -hex 32`)");
  }
  return box.seal(secret);
}

/** Creates the project or changes only the settings given (rerunning with the same values changes nothing). */
export function setProject(db: Db, name: string, settings: ProjectSettings, box: SecretBox) {
  const patch = {
    ...(settings.repoUrl !== undefined ? { repoUrl: settings.repoUrl === null ? null : validateRepoUrl(settings.repoUrl) } : {}),
    ...(settings.defaultBranch !== undefined ? { defaultBranch: validateBranch(settings.defaultBranch) } : {}),
    ...(settings.webhookSecret !== undefined ? { webhookSecretEnc: settings.webhookSecret === null ? null : sealWebhookSecret(box, settings.webhookSecret) } : {}),
  };
  const existing = db.select().from(projects).where(eq(projects.name, name)).get();
  if (!existing) return db.insert(projects).values({ name, ...patch }).returning().get();
  if (Object.keys(patch).length === 0) return existing;
  return db.update(projects).set(patch).where(eq(projects.id, existing.id)).returning().get() ?? existing;
}

export function listProjects(db: Db) {
  return db.select().from(projects).orderBy(projects.name).all();
}

export interface ProjectAccess {
  user: string;
  password: string;
}

/**
 * The HTTP basic-auth credentials of a project's protected tiers: user = the project's name,
 * a random password sealed in state, created on first use (atomically: two jobs of the same
 * project never write different passwords).
 */
export function projectAccess(db: Db, box: SecretBox, projectId: string): ProjectAccess {
  db.update(projects).set({ accessPasswordEnc: box.seal(randomSecret(18)) }).where(and(eq(projects.id, projectId), isNull(projects.accessPasswordEnc))).run();
  const p = db.select({ name: projects.name, enc: projects.accessPasswordEnc }).from(projects).where(eq(projects.id, projectId)).get();
  if (!p?.enc) throw new NotFound(`no project with id ${projectId}`);
  return { user: p.name, password: box.open(p.enc) };
}
