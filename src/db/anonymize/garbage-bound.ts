/**
 * A full collection every so many bytes read, for the daemon's long reads (the PII check reads
 * every text value of a copy). Each value read leaves its string, its lower-cased copy and the
 * matcher's match arrays as garbage; JSC keeps the string data outside its heap count, so it
 * collects late and the daemon's RSS grew with the database (bench/README.md: the check's peak
 * +63 MB from a 100 MB to a 300 MB copy, all but the needles garbage a full collection frees).
 * Bounded by bytes read, the garbage is the same whatever the database's size.
 */

/**
 * Text read between two collections. Measured on a 300 MB copy (47 MB of text, bench/README.md):
 * the check's peak 134.8 MB with none, 125.2 MB every 16 MiB, 118.0–120.2 MB every 8 MiB (6
 * collections, no slower within the load's noise).
 */
export const COLLECT_EVERY_BYTES = 8 * 1024 * 1024;

export class GarbageBound {
  private since = 0;

  constructor(
    private readonly everyBytes = COLLECT_EVERY_BYTES,
    private readonly collect: () => void = () => Bun.gc(true),
  ) {}

  /** `bytes` more were read (and are garbage once the caller drops them). */
  read(bytes: number): void {
    this.since += bytes;
    if (this.since < this.everyBytes) return;
    this.since = 0;
    this.collect();
  }
}
