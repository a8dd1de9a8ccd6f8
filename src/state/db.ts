/**
 * State: bun:sqlite through drizzle, WAL, embedded migrations applied at open (idempotent).
 */
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { MigrationMeta } from "drizzle-orm/migrator";
import { type BunSQLiteDatabase, drizzle } from "drizzle-orm/bun-sqlite";
import { embeddedMigrations } from "./migrations.gen";
import * as schema from "./schema";

export type Db = BunSQLiteDatabase<typeof schema> & { $client: Database };

function metas(): MigrationMeta[] {
  return embeddedMigrations.map((m) => ({
    sql: m.sql.split("--> statement-breakpoint"),
    bps: true,
    folderMillis: m.when,
    hash: new Bun.CryptoHasher("sha256").update(m.sql).digest("hex"),
  }));
}

export function openState(file: string): Db {
  if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
  const client = new Database(file, { create: true, strict: true });
  client.exec("PRAGMA journal_mode = WAL");
  client.exec("PRAGMA synchronous = NORMAL");
  client.exec("PRAGMA foreign_keys = ON");
  client.exec("PRAGMA busy_timeout = 5000");
  const db = drizzle({ client, schema }) as Db;
  // drizzle's public migrate() reads a folder from disk; the dialect API takes the metas directly.
  (
    db as unknown as { dialect: { migrate: (m: MigrationMeta[], s: unknown, c: object) => void }; session: unknown }
  ).dialect.migrate(metas(), (db as unknown as { session: unknown }).session, {
    migrationsTable: "__drizzle_migrations",
  });
  return db;
}
