import { sqliteTable, text } from "drizzle-orm/sqlite-core";
import { createdAt, id } from "../state/columns";

export const users = sqliteTable("users", {
  id: id(),
  username: text("username").notNull().unique(),
  passwordHash: text("password_hash").notNull(),
  role: text("role", { enum: ["admin", "member", "viewer"] }).notNull().default("member"),
  createdAt: createdAt(),
});

export const apiTokens = sqliteTable("api_tokens", {
  id: id(),
  userId: text("user_id").notNull().references(() => users.id),
  name: text("name").notNull(),
  /** sha256 of the token; the plaintext is shown once at creation. */
  tokenHash: text("token_hash").notNull().unique(),
  kind: text("kind", { enum: ["api", "local"] }).notNull().default("api"),
  createdAt: createdAt(),
  lastUsedAt: text("last_used_at"),
  expiresAt: text("expires_at"),
  revokedAt: text("revoked_at"),
});
