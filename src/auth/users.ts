/**
 * User administration (admins) and password changes. Whatever takes rights away from a user —
 * removal, a new password set by an admin — also ends their sessions, and removal revokes their
 * API tokens; the last admin can be neither removed nor demoted, so the host is never left
 * without one.
 */
import { and, eq, isNull, ne } from "drizzle-orm";
import { Conflict, Invalid, NotFound, Unauthorized } from "../errors";
import { now } from "../state/columns";
import type { Db } from "../state/db";
import { apiTokens, sessions, users } from "./auth.sql";
import { forgetFirstStartPassword } from "./first-password";
import type { Role } from "./roles";
import type { UserView } from "./schema";

export type UserRow = typeof users.$inferSelect;

export const MIN_PASSWORD = 8;

function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD) throw new Invalid(`password must have at least ${MIN_PASSWORD} characters`);
}

export function findUser(db: Db, username: string): UserRow {
  const row = db.select().from(users).where(eq(users.username, username)).get();
  if (!row) throw new NotFound(`no user ${username} (see: odooops user list)`);
  return row;
}

export function listUsers(db: Db): UserView[] {
  const at = now();
  const live = (rows: { userId: string; expiresAt: string | null }[]) => {
    const n = new Map<string, number>();
    for (const r of rows) if (!r.expiresAt || r.expiresAt > at) n.set(r.userId, (n.get(r.userId) ?? 0) + 1);
    return n;
  };
  const s = live(
    db
      .select({ userId: sessions.userId, expiresAt: sessions.expiresAt })
      .from(sessions)
      .where(isNull(sessions.revokedAt))
      .all(),
  );
  const t = live(
    db
      .select({ userId: apiTokens.userId, expiresAt: apiTokens.expiresAt })
      .from(apiTokens)
      .where(isNull(apiTokens.revokedAt))
      .all(),
  );
  return db
    .select()
    .from(users)
    .orderBy(users.username)
    .all()
    .map((u) => ({
      username: u.username,
      role: u.role,
      createdAt: u.createdAt,
      activeSessions: s.get(u.id) ?? 0,
      activeTokens: t.get(u.id) ?? 0,
    }));
}

export function userView(db: Db, username: string): UserView {
  const v = listUsers(db).find((u) => u.username === username);
  if (!v) throw new NotFound(`no user ${username} (see: odooops user list)`);
  return v;
}

function otherAdmins(db: Db, userId: string): number {
  return db
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.role, "admin"), ne(users.id, userId)))
    .all().length;
}

function refuseLastAdmin(db: Db, user: UserRow, what: string): void {
  if (user.role === "admin" && otherAdmins(db, user.id) === 0)
    throw new Conflict(
      `${user.username} is the last admin: cannot ${what} (add another admin first: odooops user add NAME --role admin)`,
    );
}

export function setRole(db: Db, username: string, role: Role): UserRow {
  const user = findUser(db, username);
  if (user.role === role) return user;
  if (role !== "admin") refuseLastAdmin(db, user, `make it ${role}`);
  return db.update(users).set({ role }).where(eq(users.id, user.id)).returning().get();
}

export function removeUser(db: Db, username: string): void {
  const user = findUser(db, username);
  refuseLastAdmin(db, user, "remove it");
  db.transaction((tx) => {
    tx.delete(sessions).where(eq(sessions.userId, user.id)).run();
    tx.delete(apiTokens).where(eq(apiTokens.userId, user.id)).run();
    tx.delete(users).where(eq(users.id, user.id)).run();
  });
}

function endSessions(db: Db, userId: string, keep?: string): void {
  db.update(sessions)
    .set({ revokedAt: now() })
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), keep ? ne(sessions.id, keep) : undefined))
    .run();
}

/** The caller's own password: the current one proves it is them; their other sessions end. */
export async function changeOwnPassword(
  db: Db,
  userId: string,
  current: string,
  next: string,
  opts: { keepSession?: string; adminPasswordFile?: string },
): Promise<void> {
  const user = db.select().from(users).where(eq(users.id, userId)).get();
  if (!user) throw new NotFound("no such user");
  if (!(await Bun.password.verify(current, user.passwordHash).catch(() => false)))
    throw new Unauthorized("the current password is wrong");
  checkPassword(next);
  if (next === current) throw new Invalid("the new password must differ from the current one");
  db.update(users)
    .set({ passwordHash: await Bun.password.hash(next, { algorithm: "argon2id" }) })
    .where(eq(users.id, user.id))
    .run();
  endSessions(db, user.id, opts.keepSession);
  forgetFirstStartPassword(opts.adminPasswordFile, current);
}

/** An admin sets another user's password: every session of that user ends. */
export async function resetPassword(
  db: Db,
  username: string,
  next: string,
  opts: { adminPasswordFile?: string },
): Promise<void> {
  const user = findUser(db, username);
  checkPassword(next);
  const file = opts.adminPasswordFile ? Bun.file(opts.adminPasswordFile) : null;
  const firstStart = file && (await file.exists()) ? (await file.text()).trim() : null;
  const wasFirstStart =
    firstStart !== null && (await Bun.password.verify(firstStart, user.passwordHash).catch(() => false));
  db.update(users)
    .set({ passwordHash: await Bun.password.hash(next, { algorithm: "argon2id" }) })
    .where(eq(users.id, user.id))
    .run();
  endSessions(db, user.id);
  if (wasFirstStart && firstStart !== null) forgetFirstStartPassword(opts.adminPasswordFile, firstStart);
}
