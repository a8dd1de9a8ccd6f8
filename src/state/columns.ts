import { text } from "drizzle-orm/sqlite-core";

/** Time-ordered UUIDv7 primary keys; UTC ISO-8601 timestamps. */
export const id = () =>
  text("id")
    .primaryKey()
    .$defaultFn(() => Bun.randomUUIDv7());
export const now = () => new Date().toISOString();
export const createdAt = () => text("created_at").notNull().$defaultFn(now);
