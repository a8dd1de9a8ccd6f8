/** The config file and the state database. */
import { errorText } from "../errors";
import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import { embeddedMigrations } from "../state/migrations.gen";
import { type Check, fail, fix, pass, warn } from "./check";
import { daemonStartHint } from "./daemon";

export const configCheck: Check = {
  id: "config",
  title: "config file valid",
  async run(ctx) {
    if (ctx.configError)
      return fail(
        ctx.configError.split("\n").join("; "),
        `correct the key named above${ctx.configFile ? ` in ${ctx.configFile}` : ""}, or re-run \`odooops init\``,
      );
    if (!ctx.configFile)
      return warn(`no config file in ${ctx.paths.configDir}: built-in defaults in use`, "run `odooops init`");
    return pass(`${ctx.configFile} is valid`);
  },
};

export interface MigrationState {
  /** Tags this binary would apply at the next daemon start. */
  pending: string[];
  /** Applied migrations this binary does not know (the state is from a newer odooops). */
  unknown: number;
}

/** drizzle applies every embedded migration newer than the newest applied one (by `when`). */
export function migrationState(appliedCreatedAt: number[], embedded: { tag: string; when: number }[]): MigrationState {
  const last = appliedCreatedAt.length > 0 ? Math.max(...appliedCreatedAt) : Number.NEGATIVE_INFINITY;
  const newestKnown = embedded.length > 0 ? Math.max(...embedded.map((m) => m.when)) : Number.NEGATIVE_INFINITY;
  return {
    pending: embedded.filter((m) => m.when > last).map((m) => m.tag),
    unknown: appliedCreatedAt.filter((t) => t > newestKnown).length,
  };
}

/** Read-only: the doctor never creates or migrates the state database. */
function inspectState(file: string): { integrity: string; applied: number[] } {
  const db = new Database(file, { readonly: true });
  try {
    const integrity = db
      .query<{ quick_check: string }, []>("PRAGMA quick_check")
      .all()
      .map((r) => r.quick_check)
      .join("; ");
    const hasTable =
      db
        .query<{ n: number }, []>(
          "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'",
        )
        .get()?.n === 1;
    const applied = hasTable
      ? db
          .query<{ created_at: number }, []>("SELECT created_at FROM __drizzle_migrations")
          .all()
          .map((r) => Number(r.created_at))
      : [];
    return { integrity, applied };
  } finally {
    db.close();
  }
}

export const stateCheck: Check = {
  id: "state",
  title: "state database opens, migrations current",
  async run(ctx) {
    const file = ctx.paths.stateDb;
    if (!existsSync(file))
      return warn(`${file} does not exist yet: the daemon creates it`, daemonStartHint(ctx.systemd, ctx.paths));
    let info: { integrity: string; applied: number[] };
    try {
      info = inspectState(file);
    } catch (e) {
      return fail(
        `cannot open ${file}: ${errorText(e)}`,
        "run as root; check the file's permissions and that the disk is not full",
      );
    }
    if (info.integrity !== "ok")
      return fail(
        `${file} failed its integrity check: ${info.integrity.slice(0, 300)}`,
        "stop the daemon and restore the state database from a backup",
      );
    const m = migrationState(info.applied, embeddedMigrations);
    if (m.unknown > 0)
      return fail(
        `${file} has ${m.unknown} migration(s) this odooops does not know: it was used by a newer version`,
        "install the newer odooops binary again (install.sh)",
      );
    if (m.pending.length > 0)
      return warn(
        `${m.pending.length} migration(s) not applied yet: ${m.pending.join(", ")}`,
        ctx.systemd
          ? fix(["systemctl", "restart", "odooops"], "migrations apply at start")
          : "stop `odooops serve` and start it again: migrations apply at start",
      );
    return pass(`${file} opens, ${info.applied.length} migration(s) applied, none pending`);
  },
};
