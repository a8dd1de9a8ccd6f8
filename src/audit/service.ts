/**
 * Append-only trail of who did what: every mutating API call, webhook delivery, denied request and
 * job outcome. Rows form an HMAC hash chain (chain.ts); appends take SQLite's write lock before
 * reading the head (BEGIN IMMEDIATE), so concurrent writers, other processes included, never fork it.
 */
import type { Database, Statement } from "bun:sqlite";
import { and, desc, eq, gte, inArray, lte, or, type SQL, sql } from "drizzle-orm";
import { environments } from "../env/env.sql";
import { Log } from "../log";
import type { Db } from "../state/db";
import { type AuditEntry, auditLogs } from "./audit.sql";
import { type ChainRow, GENESIS_HASH, rowHash, type VerifyResult, verifyChain } from "./chain";
import { DenialCoalescer } from "./coalesce";
import { auditContext } from "./context";

const log = Log.create("audit");

export type AuditRow = typeof auditLogs.$inferSelect;

export const AUDIT_FILTERS = ["failed_auth", "denied", "production"] as const;
export type AuditFilter = (typeof AUDIT_FILTERS)[number];
/** The actions of a failed authentication: a refused password, a bad or missing bearer credential. */
export const FAILED_AUTH_ACTIONS = ["auth.login", "auth.authenticate"];

export interface AuditQuery {
  since?: string;
  until?: string;
  actor?: string;
  /** `env` matches env and env.*; `env.create` matches itself. */
  action?: string;
  filter?: AuditFilter;
  limit?: number;
}

export interface AuditOptions {
  /** HMAC key of the chain (SecretBox.derive). */
  key: Buffer;
  denialWindowMs: number;
  /** False only for the benchmark's unprotected baseline: nothing is written. */
  enabled?: boolean;
}

const COLUMNS = "id, seq, at, actor, action, target, outcome, ip, details, prev_hash, hash";

export class AuditService {
  private readonly key: Buffer;
  private readonly enabled: boolean;
  private readonly client: Database;
  private readonly headStmt: Statement<{ seq: number; hash: string }, []>;
  private readonly insertStmt: Statement<unknown, [ChainRow]>;
  private readonly denials: DenialCoalescer;

  constructor(
    private readonly db: Db,
    opts: AuditOptions,
  ) {
    this.key = opts.key;
    this.enabled = opts.enabled ?? true;
    this.client = db.$client;
    this.headStmt = this.client.query(
      "select seq, hash from audit_logs where seq is not null order by seq desc limit 1",
    );
    this.insertStmt = this.client.query(
      `insert into audit_logs (${COLUMNS}) values ($id, $seq, $at, $actor, $action, $target, $outcome, $ip, $details, $prev_hash, $hash)`,
    );
    this.denials = new DenialCoalescer((e) => this.append(e), opts.denialWindowMs);
    this.sealLegacy();
  }

  /** One row, now. Inside an API request the client IP is filled in and the request counts as audited. */
  record(entry: AuditEntry): void {
    const ctx = auditContext.getStore();
    if (ctx) ctx.recorded = true;
    this.append({ ...entry, ip: entry.ip === undefined ? (ctx?.ip ?? null) : entry.ip });
  }

  /** A denial that may repeat: one row per `key` per window, with a count (DenialCoalescer). */
  deny(key: string, entry: AuditEntry): void {
    const ctx = auditContext.getStore();
    if (ctx) ctx.recorded = true;
    if (!this.enabled) return;
    this.denials.deny(key, { ...entry, outcome: "denied", ip: entry.ip === undefined ? (ctx?.ip ?? null) : entry.ip });
  }

  /** Writes the counts of open denial windows (daemon stop, tests). */
  flush(): void {
    this.denials.flush();
  }

  list(q: AuditQuery = {}): AuditRow[] {
    return this.db
      .select()
      .from(auditLogs)
      .where(and(...this.conditions(q)))
      .orderBy(desc(auditLogs.seq))
      .limit(q.limit ?? 100)
      .all();
  }

  /** Oldest first, for export: the rows as stored, chain fields included, so a copy can be verified. */
  *rows(q: Pick<AuditQuery, "since" | "until">): Generator<ChainRow> {
    const where = ["seq is not null", ...(q.since ? ["at >= $since"] : []), ...(q.until ? ["at <= $until"] : [])].join(
      " and ",
    );
    const stmt = this.client.query<ChainRow, Record<string, string>>(
      `select ${COLUMNS} from audit_logs where ${where} order by seq`,
    );
    yield* stmt.iterate({ ...(q.since ? { since: q.since } : {}), ...(q.until ? { until: q.until } : {}) });
  }

  verify(): VerifyResult {
    const sealed = this.client.query<ChainRow, []>(
      `select ${COLUMNS} from audit_logs where seq is not null order by seq`,
    );
    const unsealed = this.client.query<ChainRow, []>(
      `select ${COLUMNS} from audit_logs where seq is null order by at, id`,
    );
    const client = this.client;
    return verifyChain(
      this.key,
      (function* () {
        // One read transaction: rows appended meanwhile neither appear half-way nor break the walk.
        client.exec("begin");
        try {
          yield* sealed.iterate();
          yield* unsealed.iterate();
        } finally {
          client.exec("commit");
        }
      })(),
    );
  }

  private conditions(q: AuditQuery): (SQL | undefined)[] {
    const productionSlugs = this.db
      .select({ slug: environments.slug })
      .from(environments)
      .where(eq(environments.tier, "production"));
    return [
      q.since ? gte(auditLogs.at, q.since) : undefined,
      q.until ? lte(auditLogs.at, q.until) : undefined,
      q.actor ? eq(auditLogs.actor, q.actor) : undefined,
      q.action
        ? or(
            eq(auditLogs.action, q.action),
            sql`substr(${auditLogs.action}, 1, ${q.action.length + 1}) = ${`${q.action}.`}`,
          )
        : undefined,
      q.filter === "denied" ? eq(auditLogs.outcome, "denied") : undefined,
      q.filter === "failed_auth"
        ? and(eq(auditLogs.outcome, "denied"), inArray(auditLogs.action, FAILED_AUTH_ACTIONS))
        : undefined,
      q.filter === "production" ? inArray(auditLogs.target, productionSlugs) : undefined,
    ];
  }

  private append(entry: AuditEntry): void {
    if (!this.enabled) return;
    const details = entry.details === undefined || entry.details === null ? null : JSON.stringify(entry.details);
    this.client
      .transaction(() => {
        const head = this.headStmt.get();
        const row: Omit<ChainRow, "hash"> = {
          id: entry.id ?? Bun.randomUUIDv7(),
          seq: (head?.seq ?? 0) + 1,
          at: entry.at ?? new Date().toISOString(),
          actor: entry.actor,
          action: entry.action,
          target: entry.target ?? null,
          outcome: entry.outcome ?? "ok",
          ip: entry.ip ?? null,
          details,
          prev_hash: head?.hash ?? GENESIS_HASH,
        };
        this.insertStmt.run({ ...row, hash: rowHash(this.key, row) });
      })
      .immediate();
  }

  /**
   * Rows written before the chain existed are sealed once, at the first start after the upgrade
   * (no sealed row yet). Later, an unsealed row can only have been written around this service,
   * and verify reports it instead of blessing it.
   */
  private sealLegacy(): void {
    if (!this.enabled || this.headStmt.get()) return;
    const legacy = this.client
      .query<ChainRow, []>(`select ${COLUMNS} from audit_logs where seq is null order by at, id`)
      .all();
    if (legacy.length === 0) return;
    const update = this.client.query<unknown, [number, string, string, string]>(
      "update audit_logs set seq = ?1, prev_hash = ?2, hash = ?3 where id = ?4",
    );
    this.client
      .transaction(() => {
        let prev = GENESIS_HASH;
        legacy.forEach((row, i) => {
          const sealed = { ...row, seq: i + 1, prev_hash: prev };
          const hash = rowHash(this.key, sealed);
          update.run(i + 1, prev, hash, row.id);
          prev = hash;
        });
      })
      .immediate();
    log.info(`sealed ${legacy.length} audit row(s) written before the hash chain`);
  }
}
