/**
 * A number that changes whenever the state database may have changed: writes through this
 * connection (`total_changes()`) or any other (`PRAGMA data_version`). Cheap enough to check
 * on every request, so read models can be cached without hand-maintained invalidation.
 */
import type { Db } from "./db";

export function stateVersion(db: Db): string {
  const own = db.$client.query<{ n: number }, []>("select total_changes() as n").get()!.n;
  const other = db.$client.query<{ data_version: number }, []>("pragma data_version").get()!.data_version;
  return `${own}.${other}`;
}

/** One cached value per key, valid while the state version stays the same. */
export class StateCache<T> {
  private readonly entries = new Map<string, { version: string; value: T }>();

  constructor(private readonly maxEntries = 32) {}

  get(db: Db, key: string, build: () => T): T {
    const version = stateVersion(db);
    const hit = this.entries.get(key);
    if (hit && hit.version === version) return hit.value;
    const value = build();
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(key, { version, value });
    return value;
  }
}
