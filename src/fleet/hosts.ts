/**
 * The owner of the hosts table: enrollment, heartbeats, labels, draining, removal, and the
 * host view `host list|get` shows. A host is online while its last heartbeat is younger than
 * three heartbeat intervals.
 */
import { and, asc, eq, inArray, isNull, ne, or } from "drizzle-orm";
import { hashToken } from "../auth/tokens";
import { environments } from "../env/env.sql";
import { Conflict, Invalid, NotFound, Unauthorized } from "../errors";
import { markAbandonedOnHost } from "../env/state";
import { now } from "../state/columns";
import type { Db } from "../state/db";
import { newAgentCredential } from "./credentials";
import { type HostContainer, type HostEnvDisk, type HostInventory, hosts } from "./fleet.sql";
import { type Labels, validHostName, validLabels } from "./labels";
import { spendJoinToken } from "./tokens";

export type HostRow = typeof hosts.$inferSelect;

export interface HostView {
  id: string;
  name: string;
  role: HostRow["role"];
  status: "online" | "offline";
  /** When the host was last heard of, while it is offline. */
  offlineSince: string | null;
  draining: boolean;
  labels: Labels;
  lastHeartbeatAt: string | null;
  agentVersion: string | null;
  inventory: HostInventory | null;
  containers: HostContainer[];
  envs: string[];
  createdAt: string;
  /** Asked for (`host rotate-credential`) and the agent not yet switched. */
  credentialRotationPending: boolean;
  credentialRotatedAt: string | null;
}

/** Online while the last heartbeat is younger than three intervals. */
export function hostStatus(
  row: Pick<HostRow, "lastHeartbeatAt" | "createdAt">,
  at: Date,
  heartbeatSec: number,
): { status: HostView["status"]; offlineSince: string | null } {
  const last = row.lastHeartbeatAt;
  if (last && at.getTime() - Date.parse(last) <= 3 * heartbeatSec * 1000)
    return { status: "online", offlineSince: null };
  return { status: "offline", offlineSince: last ?? row.createdAt };
}

export function hostByName(db: Db, name: string): HostRow {
  const row = db
    .select()
    .from(hosts)
    .where(and(eq(hosts.name, name), isNull(hosts.removedAt)))
    .get();
  if (!row) throw new NotFound(`no host ${name}`);
  return row;
}

export function hostById(db: Db, id: string): HostRow | undefined {
  return db
    .select()
    .from(hosts)
    .where(and(eq(hosts.id, id), isNull(hosts.removedAt)))
    .get();
}

/** The daemon's own host row (standalone or coordinator), made on first start. */
export function ensureLocalHost(db: Db, name: string, role: HostRow["role"]): HostRow {
  const found = db
    .select()
    .from(hosts)
    .where(and(eq(hosts.name, name), isNull(hosts.removedAt)))
    .get();
  if (found) return db.update(hosts).set({ role }).where(eq(hosts.id, found.id)).returning().get();
  return db.insert(hosts).values({ name, role, status: "online" }).returning().get();
}

/**
 * On an agent: its own host row, under the id the coordinator gave it, so the env rows mirrored
 * from the coordinator (src/fleet/mirror.ts) can name it.
 */
export function ensureMirroredHost(db: Db, host: { id: string; name: string }): void {
  db.insert(hosts).values({ id: host.id, name: host.name, role: "agent" }).onConflictDoNothing().run();
}

function liveEnvsByHost(db: Db, ids: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (!ids.length) return out;
  const rows = db
    .select({ hostId: environments.hostId, name: environments.name })
    .from(environments)
    .where(and(inArray(environments.hostId, ids), ne(environments.status, "destroyed")))
    .orderBy(asc(environments.name))
    .all();
  for (const r of rows) if (r.hostId) out.set(r.hostId, [...(out.get(r.hostId) ?? []), r.name]);
  return out;
}

function toView(row: HostRow, envs: string[], at: Date, heartbeatSec: number): HostView {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    ...hostStatus(row, at, heartbeatSec),
    draining: row.draining,
    labels: row.labels,
    lastHeartbeatAt: row.lastHeartbeatAt,
    agentVersion: row.inventory?.agentVersion ?? null,
    inventory: row.inventory ?? null,
    containers: row.containers ?? [],
    envs,
    createdAt: row.createdAt,
    credentialRotationPending: row.credentialRotationRequestedAt !== null || row.pendingCredentialHash !== null,
    credentialRotatedAt: row.credentialRotatedAt,
  };
}

export function listHosts(db: Db, heartbeatSec: number, at: Date = new Date()): HostView[] {
  const rows = db.select().from(hosts).where(isNull(hosts.removedAt)).orderBy(asc(hosts.name)).all();
  const envs = liveEnvsByHost(
    db,
    rows.map((r) => r.id),
  );
  return rows.map((r) => toView(r, envs.get(r.id) ?? [], at, heartbeatSec));
}

export function hostView(db: Db, name: string, heartbeatSec: number, at: Date = new Date()): HostView {
  const row = hostByName(db, name);
  return toView(row, liveEnvsByHost(db, [row.id]).get(row.id) ?? [], at, heartbeatSec);
}

export interface Enrollment {
  host: HostRow;
  /** Shown once to the agent; only its sha256 is stored. */
  credential: string;
}

/**
 * Spends the join token and creates the agent's host row with a fresh credential, in one
 * transaction: a refused join (name taken, bad name) leaves the token unused.
 */
export function enrollHost(db: Db, req: { token: string; name: string; address: string | null }): Enrollment {
  return db.transaction((tx) => {
    const token = spendJoinToken(tx as unknown as Db, req.token);
    const name = validHostName(token.name ?? req.name);
    const taken = tx
      .select({ id: hosts.id })
      .from(hosts)
      .where(and(eq(hosts.name, name), isNull(hosts.removedAt)))
      .get();
    if (taken) throw new Conflict(`a host named ${name} exists: remove it first, or join under another name`);
    const credential = newAgentCredential();
    const host = tx
      .insert(hosts)
      .values({
        name,
        role: "agent",
        address: req.address,
        status: "enrolling",
        labels: token.labels,
        credentialHash: hashToken(credential),
      })
      .returning()
      .get();
    return { host, credential };
  });
}

/**
 * The host a bearer agent credential belongs to; user tokens and revoked credentials are refused.
 * The first use of a pending (rotated) credential makes it the host's credential: the old one is
 * refused from then on.
 */
export function authenticateAgent(db: Db, bearer: string | undefined): HostRow {
  if (!bearer) throw new Unauthorized("agent credential required");
  const hash = hashToken(bearer);
  const row = db
    .select()
    .from(hosts)
    .where(and(or(eq(hosts.credentialHash, hash), eq(hosts.pendingCredentialHash, hash)), isNull(hosts.removedAt)))
    .get();
  if (!row) throw new Unauthorized("unknown or revoked agent credential");
  if (row.pendingCredentialHash !== hash) return row;
  return db
    .update(hosts)
    .set({ credentialHash: hash, pendingCredentialHash: null, credentialRotatedAt: now() })
    .where(and(eq(hosts.id, row.id), eq(hosts.pendingCredentialHash, hash)))
    .returning()
    .get()!;
}

/**
 * A new credential for the agent, asked for by the agent itself (with its current one). It is
 * pending until the agent uses it; a second call replaces a pending one that was never used.
 */
export function issueCredential(db: Db, hostId: string): string {
  const credential = newAgentCredential();
  db.update(hosts)
    .set({ pendingCredentialHash: hashToken(credential), credentialRotationRequestedAt: null })
    .where(eq(hosts.id, hostId))
    .run();
  return credential;
}

/** `host rotate-credential`: the agent is told at its next heartbeat to fetch a new credential. */
export function requestCredentialRotation(db: Db, name: string): HostRow {
  const row = hostByName(db, name);
  if (row.role !== "agent" || !row.credentialHash)
    throw new Invalid(`${name} is not an agent: it has no agent credential to rotate`);
  return db.update(hosts).set({ credentialRotationRequestedAt: now() }).where(eq(hosts.id, row.id)).returning().get()!;
}

export function recordHeartbeat(
  db: Db,
  hostId: string,
  beat: { inventory: HostInventory; containers: HostContainer[]; envDisk?: HostEnvDisk[]; address?: string | null },
  at: Date = new Date(),
): void {
  db.update(hosts)
    .set({
      status: "online",
      lastHeartbeatAt: at.toISOString(),
      inventory: beat.inventory,
      containers: beat.containers,
      ...(beat.envDisk ? { envDisk: beat.envDisk } : {}),
      ...(beat.address ? { address: beat.address } : {}),
    })
    .where(eq(hosts.id, hostId))
    .run();
}

/** Adds or replaces `set`, drops `remove`. */
export function setLabels(db: Db, name: string, set: Labels, remove: string[] = []): HostRow {
  const row = hostByName(db, name);
  const labels = { ...row.labels, ...validLabels(set) };
  for (const k of remove) delete labels[k];
  return db.update(hosts).set({ labels }).where(eq(hosts.id, row.id)).returning().get();
}

export function setDraining(db: Db, name: string, draining: boolean): HostRow {
  const row = hostByName(db, name);
  return db.update(hosts).set({ draining }).where(eq(hosts.id, row.id)).returning().get();
}

export interface Removal {
  host: string;
  /** Envs whose records were dropped (`--force`): their containers, databases and files stay on the host, unmanaged. */
  abandonedEnvs: string[];
  /** Queued and running jobs of the host that were failed (its agent can no longer report). */
  failedJobs: number;
}

/**
 * Revokes the agent's credential and forgets the host. Refuses while envs live there unless
 * `force`, which marks them destroyed in state (their data stays on the machine, unmanaged)
 * and fails the host's queued and running jobs. The coordinator's own host is never removed.
 */
export function removeHost(
  db: Db,
  name: string,
  opts: { force: boolean; localHostId: string | null; failQueuedJobs(hostId: string, reason: string): number },
): Removal {
  const row = hostByName(db, name);
  if (row.id === opts.localHostId) throw new Conflict(`${name} is this coordinator's own host: it cannot be removed`);
  const envs = liveEnvsByHost(db, [row.id]).get(row.id) ?? [];
  if (envs.length && !opts.force)
    throw new Conflict(
      `${envs.length} environment(s) live on ${name}: ${envs.join(", ")}; move or destroy them first, or --force (their records are dropped; containers, databases and files stay on the host, unmanaged)`,
      { envs },
    );
  // One connection, synchronous: the owners' writes below run inside this transaction.
  return db.transaction(() => {
    db.update(hosts)
      .set({ credentialHash: null, removedAt: now(), status: "offline" })
      .where(eq(hosts.id, row.id))
      .run();
    if (envs.length)
      markAbandonedOnHost(
        db,
        row.id,
        `host ${name} removed with --force: its container, database and files were left on the host, unmanaged`,
      );
    const failedJobs = opts.failQueuedJobs(row.id, `host ${name} was removed`);
    return { host: name, abandonedEnvs: envs, failedJobs };
  });
}
