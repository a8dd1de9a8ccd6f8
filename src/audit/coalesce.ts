/**
 * Repeated denials (a password brute force, a script with a revoked token) must not grow the audit
 * log by one row per attempt. The first denial of a key is written at once; later ones within the
 * window are counted in memory and written as one row with that count when the window closes.
 */
import { Log } from "../log";
import type { AuditEntry } from "./audit.sql";
import { errorText } from "../errors";

const log = Log.create("audit");

interface Window {
  entry: AuditEntry;
  until: number;
  pending: number;
  firstAt: string | null;
  lastAt: string | null;
  timer: ReturnType<typeof setTimeout>;
}

/** Beyond this many open windows the oldest is closed early (its count written), bounding memory. */
const MAX_OPEN_WINDOWS = 10_000;

export class DenialCoalescer {
  private readonly open = new Map<string, Window>();

  constructor(
    private readonly write: (entry: AuditEntry) => void,
    private readonly windowMs: number,
  ) {}

  deny(key: string, entry: AuditEntry): void {
    const at = new Date().toISOString();
    const current = this.open.get(key);
    if (current && current.until > Date.now()) {
      current.pending++;
      current.firstAt ??= at;
      current.lastAt = at;
      return;
    }
    if (current) this.close(key);
    this.write({ ...entry, details: { ...entry.details, count: 1 } });
    const timer = setTimeout(() => this.closeLater(key), this.windowMs);
    timer.unref();
    this.open.set(key, { entry, until: Date.now() + this.windowMs, pending: 0, firstAt: null, lastAt: null, timer });
    if (this.open.size > MAX_OPEN_WINDOWS) {
      const oldest = this.open.keys().next().value;
      if (oldest !== undefined) this.close(oldest);
    }
  }

  /** Writes every pending count now (daemon stop). */
  flush(): void {
    for (const key of [...this.open.keys()]) this.close(key);
  }

  /** From a timer there is no caller to throw to: a failed write (state closed at shutdown) is logged. */
  private closeLater(key: string): void {
    try {
      this.close(key);
    } catch (e) {
      log.error("could not write a coalesced denial row", { key, error: errorText(e) });
    }
  }

  private close(key: string): void {
    const w = this.open.get(key);
    if (!w) return;
    clearTimeout(w.timer);
    this.open.delete(key);
    if (w.pending === 0) return;
    this.write({
      ...w.entry,
      details: { ...w.entry.details, count: w.pending, coalesced: true, firstAt: w.firstAt, lastAt: w.lastAt },
    });
  }
}
