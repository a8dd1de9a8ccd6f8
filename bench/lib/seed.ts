/**
 * Fills a stopped daemon's state with N environments through the project's own drizzle schema
 * (same column names and defaults as the daemon), bypassing `env create`, whose tier quotas and
 * containers are irrelevant to listing speed.
 *
 * It deliberately does not call openState: that would apply the migrations of the *source tree*,
 * which may differ from those embedded in the dist/odooops under test (a regenerated migration
 * then fails with "table already exists"). The daemon's first start has created the tables, and
 * assertSameColumns turns a stale binary into one clear message instead of an SQL error.
 */
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { getTableConfig } from "drizzle-orm/sqlite-core";
import { environments } from "../../src/env/env.sql";
import { resolveProject } from "../../src/env/projects";
import type { Db } from "../../src/state/db";
import * as schema from "../../src/state/schema";

const TIERS = ["dev", "dev_ephemeral", "staging", "production"] as const;
const SUBDOMAIN: Record<(typeof TIERS)[number], string> = {
  dev: "dev",
  dev_ephemeral: "preview",
  staging: "staging",
  production: "",
};
/** Rows per INSERT: 200 rows × ~30 bound values stays far below SQLite's variable limit. */
const CHUNK = 200;

interface ColumnInfo {
  name: string;
  notnull: number;
  dflt_value: string | null;
}

function assertSameColumns(client: Database): void {
  const inDb = client
    .query<ColumnInfo, []>("SELECT name, \"notnull\", dflt_value FROM pragma_table_info('environments')")
    .all();
  const inSource = new Set(getTableConfig(environments).columns.map((c) => c.name));
  const dbNames = new Set(inDb.map((c) => c.name));
  const onlySource = [...inSource].filter((c) => !dbNames.has(c));
  // Extra nullable or defaulted columns in the binary's table are harmless to an insert; required ones are not.
  const onlyDbRequired = inDb
    .filter((c) => !inSource.has(c.name) && c.notnull === 1 && c.dflt_value === null)
    .map((c) => c.name);
  if (onlySource.length > 0 || onlyDbRequired.length > 0) {
    throw new Error(
      `dist/odooops and src/ disagree on table environments (only in src: ${onlySource.join(", ") || "none"}; ` +
        `required only in the binary: ${onlyDbRequired.join(", ") || "none"}): rebuild with \`bun run build\``,
    );
  }
}

export function seedEnvironments(root: string, count: number): void {
  const client = new Database(join(root, "state", "odooops.db"), { strict: true });
  client.exec("PRAGMA foreign_keys = ON");
  assertSameColumns(client);
  const db = drizzle({ client, schema }) as Db;
  try {
    const project = resolveProject(db, undefined);
    const rows = Array.from({ length: count }, (_, i) => {
      const tier = TIERS[i % TIERS.length];
      const slug = `bench-${String(i).padStart(4, "0")}`;
      return {
        projectId: project.id,
        name: slug,
        slug,
        branch: `feature/${slug}`,
        tier,
        status: "active" as const,
        odooImage: "odoo:17.0",
        domain: [slug, SUBDOMAIN[tier], "odoo.localhost"].filter(Boolean).join("."),
        dbName: slug.replace("-", "_"),
        dbUser: slug.replace("-", "_"),
        // Listing never unseals these; placeholders keep the NOT NULL columns honest without a key.
        dbPasswordEnc: "bench-placeholder",
        adminPasswdEnc: "bench-placeholder",
        cpus: "1",
        memoryMb: 1024,
        modules: ["base"],
        createdBy: "admin",
      };
    });
    db.transaction((tx) => {
      for (let i = 0; i < rows.length; i += CHUNK)
        tx.insert(environments)
          .values(rows.slice(i, i + CHUNK))
          .run();
    });
  } finally {
    db.$client.close();
  }
}
