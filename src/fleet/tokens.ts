/**
 * One-time join tokens: `createJoinToken` on the coordinator (CLI `host token create`, and
 * `host add` over SSH), spent by `enrollHost` (src/fleet/hosts.ts) when the agent joins.
 * Short-lived (15 min unless told), single use, only the secret's sha256 is stored.
 */
import { and, eq, isNull } from "drizzle-orm";
import { hashToken } from "../auth/tokens";
import { Invalid, Unauthorized, Unavailable } from "../errors";
import type { Db } from "../state/db";
import { decodeJoinToken, encodeJoinToken, newJoinSecret } from "./join-token";
import { joinTokens } from "./fleet.sql";
import { type Labels, validHostName, validLabels } from "./labels";

export const JOIN_TOKEN_DEFAULT_TTL_MS = 15 * 60_000;
const JOIN_TOKEN_MAX_TTL_MS = 24 * 3_600_000;
const JOIN_TOKEN_MIN_TTL_MS = 60_000;

/** Where agents reach the coordinator and what certificate they must see there. */
export interface AgentEndpoint {
  url: string;
  fingerprint: string;
}

export interface JoinTokenDeps {
  db: Db;
  /** Null until the coordinator's agent listener runs (standalone hosts have none). */
  endpoint: AgentEndpoint | null;
}

export interface JoinTokenOptions {
  ttlMs?: number;
  /** The name the host gets (else the name it reports when joining). */
  name?: string;
  labels?: Labels;
  createdBy?: string | null;
}

export interface CreatedJoinToken {
  id: string;
  token: string;
  joinUrl: string;
  fingerprint: string;
  expiresAt: string;
}

const DURATION = /^([1-9]\d{0,5})(s|m|h)$/;

/** `--ttl 15m` → ms (seconds, minutes or hours; 1 min to 24 h). */
export function parseJoinTtl(text: string): number {
  const m = DURATION.exec(text);
  if (!m) throw new Invalid(`${JSON.stringify(text)} is not a duration: use e.g. 90s, 15m or 2h`);
  const ms = Number(m[1]) * (m[2] === "s" ? 1000 : m[2] === "m" ? 60_000 : 3_600_000);
  checkTtl(ms);
  return ms;
}

function checkTtl(ms: number): void {
  if (!Number.isFinite(ms) || ms < JOIN_TOKEN_MIN_TTL_MS || ms > JOIN_TOKEN_MAX_TTL_MS)
    throw new Invalid("a join token lives between 1 minute and 24 hours");
}

export function createJoinToken(deps: JoinTokenDeps, opts: JoinTokenOptions = {}): CreatedJoinToken {
  if (!deps.endpoint)
    throw new Unavailable(
      "this host serves no agent API: set `role: coordinator` in the config and restart the daemon",
    );
  const ttlMs = opts.ttlMs ?? JOIN_TOKEN_DEFAULT_TTL_MS;
  checkTtl(ttlMs);
  const labels = validLabels(opts.labels ?? {});
  if (opts.name !== undefined) validHostName(opts.name);
  const secret = newJoinSecret();
  const expiresAt = new Date(Date.now() + ttlMs).toISOString();
  const row = deps.db
    .insert(joinTokens)
    .values({
      secretHash: hashToken(secret),
      name: opts.name ?? null,
      labels,
      expiresAt,
      createdBy: opts.createdBy ?? null,
    })
    .returning()
    .get();
  const token = encodeJoinToken({ url: deps.endpoint.url, fingerprint: deps.endpoint.fingerprint, secret });
  return { id: row.id, token, joinUrl: deps.endpoint.url, fingerprint: deps.endpoint.fingerprint, expiresAt };
}

export type JoinTokenRow = typeof joinTokens.$inferSelect;

/**
 * Marks the token used and returns it; refuses unknown, used and expired tokens with one message
 * each (the caller runs this inside the transaction that creates the host).
 */
export function spendJoinToken(db: Db, token: string, at: Date = new Date()): JoinTokenRow {
  const { secret } = decodeJoinToken(token);
  const row = db
    .select()
    .from(joinTokens)
    .where(eq(joinTokens.secretHash, hashToken(secret)))
    .get();
  if (!row) throw new Unauthorized("unknown join token");
  if (row.usedAt) throw new Unauthorized("this join token was already used: create a new one on the coordinator");
  if (row.expiresAt <= at.toISOString())
    throw new Unauthorized(`this join token expired at ${row.expiresAt}: create a new one on the coordinator`);
  const spent = db
    .update(joinTokens)
    .set({ usedAt: at.toISOString() })
    .where(and(eq(joinTokens.id, row.id), isNull(joinTokens.usedAt)))
    .returning()
    .get();
  if (!spent) throw new Unauthorized("this join token was already used: create a new one on the coordinator");
  return spent;
}
