/**
 * The API admin, written straight into the state database (created here if the daemon never
 * ran): the password is never stored in the config. A running daemon sees the row at once.
 */
import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import { eq } from "drizzle-orm";
import { users } from "../auth/auth.sql";
import { randomSecret } from "../auth/secretbox";
import { AuthService } from "../auth/service";
import type { Paths } from "../config/paths";
import type { Config } from "../config/schema";
import { openState } from "../state/db";
import { writeFileAtomic } from "./config-file";

export interface AdminResult {
  username: string;
  action: "created" | "updated" | "unchanged";
  /** Where a generated password was written (0600), when one was. */
  passwordFile?: string;
}

/** Users in the state database, admins first (read-only: nothing is created or migrated). */
export function existingUsers(paths: Paths): { username: string; role: string }[] {
  if (!existsSync(paths.stateDb)) return [];
  const db = new Database(paths.stateDb, { readonly: true });
  try {
    const hasUsers = db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'users'").get() !== null;
    if (!hasUsers) return [];
    return db
      .query<{ username: string; role: string }, []>(
        "SELECT username, role FROM users ORDER BY role <> 'admin', created_at",
      )
      .all();
  } finally {
    db.close();
  }
}

export async function ensureAdmin(
  paths: Paths,
  config: Config,
  admin: { username: string; password?: string },
): Promise<AdminResult> {
  const db = openState(paths.stateDb);
  try {
    const existing = db.select().from(users).where(eq(users.username, admin.username)).get();
    if (existing) {
      if (admin.password === undefined && existing.role === "admin")
        return { username: admin.username, action: "unchanged" };
      const set: Partial<typeof users.$inferInsert> = { role: "admin" };
      if (admin.password !== undefined)
        set.passwordHash = await Bun.password.hash(admin.password, { algorithm: "argon2id" });
      db.update(users).set(set).where(eq(users.id, existing.id)).run();
      return { username: admin.username, action: "updated" };
    }
    const auth = new AuthService(db, { jwtSecretFile: paths.jwtSecretFile, sessionHours: config.sessionHours });
    const password = admin.password ?? randomSecret(18);
    await auth.createUser(admin.username, password, "admin");
    if (admin.password !== undefined) return { username: admin.username, action: "created" };
    writeFileAtomic(paths.adminPasswordFile, `${password}\n`);
    return { username: admin.username, action: "created", passwordFile: paths.adminPasswordFile };
  } finally {
    db.$client.close();
  }
}
