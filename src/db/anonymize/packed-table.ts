/**
 * The PII check's needles in a few typed arrays instead of a Set/Map of JS strings and objects:
 * a source of 450,000 partners gives ~900,000 addresses and numbers, and as JS collections they
 * cost ~100 bytes each of the daemon's heap (bench/README.md: the daemon's RSS grew with the
 * database during a clone). Here a needle costs its characters plus ~13 bytes of index.
 *
 * Strings are stored as one byte per character, so only strings of code units < 256 are kept;
 * the matcher's tokens are ASCII (EMAIL_RE, digits), so a needle with any other character could
 * never be found and is left out (`skipped` counts them).
 *
 * Lookup is by key: the whole string, or its last `keyLength` characters (phones are looked up
 * by their last 7 digits). Open addressing over FNV-1a hashes of the key, one chain per distinct
 * key through `next`.
 */

const EMPTY = -1;
/** A character one byte cannot hold. */
const WIDE = /[\u0100-\uffff]/;

/** FNV-1a (32-bit) of the code units of s[from, to). */
export function fnv1a(s: string, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** fnv1a of bytes: the same hash as of the string whose code units they are. */
function fnv1aBytes(b: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ (b[i] as number), 0x01000193);
  return h >>> 0;
}

/** murmur3's finalizer: FNV-1a's low bits alone cluster similar strings in a power-of-two table. */
function mix(h: number): number {
  let x = h ^ (h >>> 16);
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Initial entries (and a quarter of the initial slots); each array doubles when full. */
const INITIAL = 1024;

export class PackedTable {
  /** Strings left out: a character ≥ 256, or shorter than the key. */
  private leftOut = 0;
  private count = 0;
  /** Characters used in `chars`. */
  private used = 0;
  private chars = new Uint8Array(INITIAL * 16);
  /** Entry i is chars[start[i], start[i + 1]). */
  private start = new Uint32Array(INITIAL + 1);
  /** Slot → first entry of the chain of one key, or EMPTY. */
  private slots = new Int32Array(INITIAL * 2).fill(EMPTY);
  /** Entry → next entry with the same key, or EMPTY. */
  private next = new Int32Array(INITIAL).fill(EMPTY);
  private mask = INITIAL * 2 - 1;

  /**
   * `keyLength` null: looked up by the whole string. `values` may be empty and the strings
   * added one by one (`add`): the source's needles are packed as they are read, so they never
   * exist all at once as JS strings (bench/README.md: at 2 GiB, hundreds of MB).
   */
  constructor(
    values: readonly string[] = [],
    private readonly keyLength: number | null = null,
  ) {
    for (const v of values) this.add(v);
  }

  /** Distinct strings kept. */
  get size(): number {
    return this.count;
  }

  get skipped(): number {
    return this.leftOut;
  }

  /** Keeps `v` (once); false when it was left out or already there. */
  add(v: string): boolean {
    if (this.keyRange(v) === null || WIDE.test(v)) {
      this.leftOut++;
      return false;
    }
    if (this.indexOf(v, 0, v.length) >= 0) return false;
    this.reserve(v.length);
    const n = this.count;
    let at = this.used;
    this.start[n] = at;
    for (let i = 0; i < v.length; i++) this.chars[at++] = v.charCodeAt(i);
    this.start[n + 1] = at;
    this.used = at;
    this.count = n + 1;
    this.link(v, n);
    return true;
  }

  /**
   * Gives back the room kept for more strings (up to half of each array: they double as they
   * fill). Once all are added: the table is held through the whole scan. `add` still works.
   */
  trim(): void {
    this.chars = this.chars.slice(0, this.used);
    this.start = this.start.slice(0, this.count + 1);
    this.next = this.next.slice(0, this.count);
  }

  /** Whether `s` is one of the strings. */
  has(s: string): boolean {
    return this.indexOf(s, 0, s.length) >= 0;
  }

  /**
   * Whether s[from, to) is one of the strings, without cutting it out: the matcher tries many
   * ranges of one text per token, and a substring each was its main allocation.
   */
  hasRange(s: string, from: number, to: number): boolean {
    return this.indexOf(s, from, to) >= 0;
  }

  /**
   * Calls `each(i)` for every entry whose key equals s[from, to) (keyLength characters for a
   * keyed table); `at(i)`, `endsWith` read the entry.
   */
  forKey(s: string, from: number, to: number, each: (i: number) => void): void {
    for (let i = this.chain(s, from, to); i !== EMPTY; i = this.next[i] as number) each(i);
  }

  /**
   * The first entry whose key is the bytes b[from, to) read as code units, or -1; `nextWithSameKey`
   * gives the others. The phone scan collects a run's digits as bytes: no string per run, no
   * callback per group.
   */
  firstWithKeyBytes(b: Uint8Array, from: number, to: number): number {
    for (let slot = mix(fnv1aBytes(b, from, to)) & this.mask; ; slot = (slot + 1) & this.mask) {
      const i = this.slots[slot] as number;
      if (i === EMPTY) return EMPTY;
      if (this.keyEqualsBytes(i, b, from, to)) return i;
    }
  }

  /** The next entry of entry i's chain (same key), or -1. */
  nextWithSameKey(i: number): number {
    return this.next[i] as number;
  }

  /** endsWithTail on bytes: whether b[0, to) ends with the last `n` characters of entry i. */
  endsWithTailBytes(b: Uint8Array, to: number, i: number, n: number): boolean {
    const end = this.start[i + 1] as number;
    const from = Math.max(this.start[i] as number, end - n);
    const len = end - from;
    if (len > to) return false;
    for (let k = 0; k < len; k++) if (b[to - len + k] !== this.chars[from + k]) return false;
    return true;
  }

  /** Entry i as a string. */
  at(i: number): string {
    return String.fromCharCode(...this.chars.subarray(this.start[i], this.start[i + 1]));
  }

  /** Whether s[0, to) ends with the last `n` characters of entry i (all of them when shorter). */
  endsWithTail(s: string, to: number, i: number, n: number): boolean {
    const end = this.start[i + 1] as number;
    const from = Math.max(this.start[i] as number, end - n);
    const len = end - from;
    if (len > to) return false;
    for (let k = 0; k < len; k++) if (s.charCodeAt(to - len + k) !== this.chars[from + k]) return false;
    return true;
  }

  private keyRange(v: string): [number, number] | null {
    if (this.keyLength === null) return [0, v.length];
    return v.length < this.keyLength ? null : [v.length - this.keyLength, v.length];
  }

  /** Same characters as s[from, to)? */
  private equals(i: number, s: string, from: number, to: number, whole: boolean): boolean {
    const a = this.start[i] as number;
    const b = this.start[i + 1] as number;
    const kFrom = whole || this.keyLength === null ? a : b - this.keyLength;
    if (b - kFrom !== to - from) return false;
    for (let k = 0; k < to - from; k++) if (this.chars[kFrom + k] !== s.charCodeAt(from + k)) return false;
    return true;
  }

  /** Entry i's key has the bytes b[from, to)? */
  private keyEqualsBytes(i: number, b: Uint8Array, from: number, to: number): boolean {
    const end = this.start[i + 1] as number;
    const kFrom = this.keyLength === null ? (this.start[i] as number) : end - this.keyLength;
    if (end - kFrom !== to - from) return false;
    for (let k = 0; k < to - from; k++) if (this.chars[kFrom + k] !== b[from + k]) return false;
    return true;
  }

  /** The first entry of the chain whose key is s[from, to), or EMPTY. */
  private chain(s: string, from: number, to: number): number {
    for (let slot = mix(fnv1a(s, from, to)) & this.mask; ; slot = (slot + 1) & this.mask) {
      const i = this.slots[slot] as number;
      if (i === EMPTY) return EMPTY;
      if (this.equals(i, s, from, to, false)) return i;
    }
  }

  /** Index of the entry equal to s[from, to), or -1. */
  private indexOf(s: string, from: number, to: number): number {
    const keyFrom = this.keyLength === null ? from : to - this.keyLength;
    if (keyFrom < from) return -1;
    for (let i = this.chain(s, keyFrom, to); i !== EMPTY; i = this.next[i] as number) {
      if (this.equals(i, s, from, to, true)) return i;
    }
    return -1;
  }

  /** Room for one more entry of `length` characters; the slots stay at most half full. */
  private reserve(length: number): void {
    if (this.used + length > this.chars.length) {
      const chars = new Uint8Array(Math.max(INITIAL, this.chars.length * 2, this.used + length));
      chars.set(this.chars.subarray(0, this.used));
      this.chars = chars;
    }
    if (this.count + 1 > this.next.length) {
      const next = new Int32Array(Math.max(INITIAL, this.next.length * 2)).fill(EMPTY);
      next.set(this.next);
      this.next = next;
      const start = new Uint32Array(next.length + 1);
      start.set(this.start);
      this.start = start;
    }
    if ((this.count + 1) * 2 > this.slots.length) this.rehash(this.slots.length * 2);
  }

  /** Slots of `capacity`: each chain's head moves to its key's new slot (chains stay as they are). */
  private rehash(capacity: number): void {
    const old = this.slots;
    this.slots = new Int32Array(capacity).fill(EMPTY);
    this.mask = capacity - 1;
    for (const head of old) {
      if (head === EMPTY) continue;
      const b = this.start[head + 1] as number;
      const a = this.keyLength === null ? (this.start[head] as number) : b - this.keyLength;
      let slot = mix(fnv1aBytes(this.chars, a, b)) & this.mask;
      while ((this.slots[slot] as number) !== EMPTY) slot = (slot + 1) & this.mask;
      this.slots[slot] = head;
    }
  }

  /** Entry n (already in chars) joins the chain of its key, or starts one. */
  private link(v: string, n: number): void {
    const [from, to] = this.keyRange(v) as [number, number];
    for (let slot = mix(fnv1a(v, from, to)) & this.mask; ; slot = (slot + 1) & this.mask) {
      const i = this.slots[slot] as number;
      if (i === EMPTY) {
        this.slots[slot] = n;
        return;
      }
      if (this.equals(i, v, from, to, false)) {
        this.next[n] = this.next[i] as number;
        this.next[i] = n;
        return;
      }
    }
  }
}
