/**
 * The PostgreSQL client programs odooops runs on tenant data as root (pg_dump for backups and
 * exports, pg_restore and psql for restores and imports): releases with known client-side
 * holes (src/host/postgres/clients.ts).
 */
import { join } from "node:path";
import { run } from "../exec/run";
import { affectedByDumpCves, FIXED_CLIENT_VERSIONS, parsePgClientVersion } from "../host/postgres/clients";
import { type Check, type CheckOutcome, pass, warn } from "./check";
import { pgClientVersion } from "./commands";

export const PG_CLIENTS = ["pg_dump", "pg_restore", "psql"] as const;

async function clientVersion(program: string): Promise<string | null> {
  try {
    const r = await run(pgClientVersion(program), { nothrow: true });
    return r.exitCode === 0 ? r.stdout.trim() : null;
  } catch {
    return null;
  }
}

/** The check over the programs in `binDir` (default: those on PATH, which odooops runs). */
export function pgClientsCheckIn(binDir?: string): Check {
  return {
    id: "pg-clients",
    title: "PostgreSQL client programs without known dump/restore CVEs",
    run: () => checkClients(binDir),
  };
}

export const pgClientsCheck = pgClientsCheckIn();

async function checkClients(binDir: string | undefined): Promise<CheckOutcome> {
  const found: string[] = [];
  const affected: string[] = [];
  const missing: string[] = [];
  for (const program of PG_CLIENTS) {
    const text = await clientVersion(binDir ? join(binDir, program) : program);
    const v = text === null ? null : parsePgClientVersion(text);
    if (v === null) {
      missing.push(program);
      continue;
    }
    const label = `${program} ${v[0]}.${v[1]}`;
    found.push(label);
    if (affectedByDumpCves(v[0], v[1])) affected.push(label);
  }
  if (missing.length > 0)
    return warn(
      `not found: ${missing.join(", ")} (backups, restores and imports need them)`,
      "apt-get install postgresql-client",
    );
  if (affected.length > 0) {
    return warn(
      `${affected.join(", ")}: affected by CVE-2025-8714/CVE-2025-8715 (a dump can run shell commands in psql when restored)`,
      `upgrade the PostgreSQL client to ${FIXED_CLIENT_VERSIONS} or later (apt-get install --only-upgrade postgresql-client-<major>); imports refuse to run without psql's \\restrict`,
    );
  }
  return pass(found.join(", "));
}
