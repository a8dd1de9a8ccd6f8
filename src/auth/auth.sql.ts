import { sqliteTable, text } from "drizzle-orm/sqlite-core";
import { createdAt, id } from "../state/columns";

export const users = sqliteTable("users", {
  id: id(),
  username: text("username").notNull().unique(),
  passwordHash: text("password_hash").notNull(),
  role: text("role", { enum: ["admin", "member", "viewer"] })
    .notNull()
    .default("member"),
  createdAt: createdAt(),
});

export const apiTokens = sqliteTable("api_tokens", {
  id: id(),
  userId: text("user_id")
    .notNull()
    .references(() => users.id),
  name: text("name").notNull(),
  /** sha256 of the token; the plaintext is shown once at creation. */
  tokenHash: text("token_hash").notNull().unique(),
  kind: text("kind", { enum: ["api", "local"] })
    .notNull()
    .default("api"),
  /** The most the token may do; the owner's current role caps it too (null: the owner's role). */
  role: text("role", { enum: ["admin", "member", "viewer"] }),
  createdAt: createdAt(),
  lastUsedAt: text("last_used_at"),
  expiresAt: text("expires_at"),
  revokedAt: text("revoked_at"),
});

/** One row per login: the JWT carries its id, so logout and `auth sessions revoke` end it server-side. */
export const sessions = sqliteTable("sessions", {
  id: id(),
  userId: text("user_id")
    .notNull()
    .references(() => users.id),
  createdAt: createdAt(),
  expiresAt: text("expires_at").notNull(),
  lastUsedAt: text("last_used_at"),
  revokedAt: text("revoked_at"),
});
