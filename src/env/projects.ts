import { and, eq, isNull } from "drizzle-orm";
import { randomSecret, type SecretBox } from "../auth/secretbox";
import { Invalid, NotFound } from "../errors";
import type { Db } from "../state/db";
import { displayUrl, joinUrlPassword, splitUrlPassword } from "../git/commands";
import { validateBranch, validateRepoUrl } from "../git/validate";
import { projects } from "./env.sql";

export const DEFAULT_PROJECT = "default";

/** The project an env belongs to; `default` exists implicitly so a single-repo host needs no setup. */
export function resolveProject(db: Db, name: string | undefined) {
  const wanted = name ?? DEFAULT_PROJECT;
  const found = db.select().from(projects).where(eq(projects.name, wanted)).get();
  if (found) return found;
  if (wanted !== DEFAULT_PROJECT) throw new NotFound(`no project ${wanted}; add it with \`odooops project add\``);
  return (
    db.insert(projects).values({ name: DEFAULT_PROJECT }).onConflictDoNothing().returning().get() ??
    db.select().from(projects).where(eq(projects.name, DEFAULT_PROJECT)).get()!
  );
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
    throw new Invalid(
      "webhook secret must be 16 to 256 printable ASCII characters without spaces (e.g. `openssl rand -hex 32`)",
    );
  }
  return box.seal(secret);
}

/** The URL stored without its password, and the password sealed (a token in a URL is a credential like any other). */
function repoColumns(box: SecretBox, url: string | null): { repoUrl: string | null; repoPasswordEnc: string | null } {
  if (url === null) return { repoUrl: null, repoPasswordEnc: null };
  const split = splitUrlPassword(validateRepoUrl(url));
  return { repoUrl: split.url, repoPasswordEnc: split.password === null ? null : box.seal(split.password) };
}

type ProjectRow = typeof projects.$inferSelect;

/** The URL git fetches from: the stored one with its password unsealed. Never shown or logged. */
export function projectRepoUrl(p: Pick<ProjectRow, "repoUrl" | "repoPasswordEnc">, box: SecretBox): string | null {
  if (p.repoUrl === null) return null;
  return p.repoPasswordEnc === null ? p.repoUrl : joinUrlPassword(p.repoUrl, box.open(p.repoPasswordEnc));
}

/** The URL as the API, the CLI and the audit log show it: a password is `***`. */
export function shownRepoUrl(p: Pick<ProjectRow, "repoUrl" | "repoPasswordEnc">): string | null {
  if (p.repoUrl === null) return null;
  return p.repoPasswordEnc === null ? displayUrl(p.repoUrl) : joinUrlPassword(p.repoUrl, "***");
}

/**
 * Rows written before passwords were sealed hold them in repo_url: moved into repo_password_enc
 * when the daemon starts. Returns how many rows changed.
 */
export function sealLegacyRepoPasswords(db: Db, box: SecretBox): number {
  let changed = 0;
  for (const p of db.select().from(projects).all()) {
    if (p.repoUrl === null || p.repoPasswordEnc !== null) continue;
    const split = splitUrlPassword(p.repoUrl);
    if (split.password === null) continue;
    db.update(projects)
      .set({ repoUrl: split.url, repoPasswordEnc: box.seal(split.password) })
      .where(eq(projects.id, p.id))
      .run();
    changed++;
  }
  return changed;
}

/** Creates the project or changes only the settings given (rerunning with the same values changes nothing). */
export function setProject(db: Db, name: string, settings: ProjectSettings, box: SecretBox) {
  const patch = {
    ...(settings.repoUrl !== undefined ? repoColumns(box, settings.repoUrl) : {}),
    ...(settings.defaultBranch !== undefined ? { defaultBranch: validateBranch(settings.defaultBranch) } : {}),
    ...(settings.webhookSecret !== undefined
      ? { webhookSecretEnc: settings.webhookSecret === null ? null : sealWebhookSecret(box, settings.webhookSecret) }
      : {}),
  };
  const existing = db.select().from(projects).where(eq(projects.name, name)).get();
  if (!existing)
    return db
      .insert(projects)
      .values({ name, ...patch })
      .returning()
      .get();
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
  db.update(projects)
    .set({ accessPasswordEnc: box.seal(randomSecret(18)) })
    .where(and(eq(projects.id, projectId), isNull(projects.accessPasswordEnc)))
    .run();
  const p = db
    .select({ name: projects.name, enc: projects.accessPasswordEnc })
    .from(projects)
    .where(eq(projects.id, projectId))
    .get();
  if (!p?.enc) throw new NotFound(`no project with id ${projectId}`);
  return { user: p.name, password: box.open(p.enc) };
}

/** On an agent: the coordinator's row of a project whose envs are placed here (the fleet's state link). */
export function mirrorProject(db: Db, row: typeof projects.$inferSelect): void {
  const { id: _id, ...columns } = row;
  db.insert(projects).values(row).onConflictDoUpdate({ target: projects.id, set: columns }).run();
}
