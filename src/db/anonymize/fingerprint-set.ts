/**
 * The PII check's addresses as 63-bit fingerprints, 8 bytes each in one typed array, instead of
 * their characters: the daemon's peak during a clone grew with the source by the needles it
 * held (bench/README.md: 171 → 276 MB from 100 MB to 2 GiB, ≈ 125 MB of packed strings at
 * 943,000 addresses and as many numbers). Membership is all the check asks: a found address is
 * reported from the text it was found in, never from the set.
 *
 * Two fingerprints are equal when two independent 32-bit hashes (FNV-1a and murmur3's, each
 * with its finalizer) both are: about 2^-63 per slot compared, so a check that probes 10^9
 * times has odds of ≈ 2·10^-10 of one false "found". A collision can only fail a check that
 * should pass (a finding that is not one), never let a source value through.
 *
 * A string is hashed from its LAST character to its first (`ReverseHash`): the matcher extends
 * a candidate leftwards one character at a time (every suffix of a token's local part, see
 * pii-match.ts) and probes after each, one hash step per candidate instead of a whole hash.
 */

/** Slots of an empty set; doubled whenever half full. */
const INITIAL_SLOTS = 1024;

/** murmur3's finalizer: spreads every input bit over the word. */
function fmix(h: number, length: number): number {
  let x = h ^ length;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Both hashes of a string fed character by character, from its end (see above). */
export class ReverseHash {
  private fnv = 0x811c9dc5;
  private murmur = 0;
  private length = 0;

  reset(): void {
    this.fnv = 0x811c9dc5;
    this.murmur = 0;
    this.length = 0;
  }

  /** The character before those already in. */
  push(c: number): void {
    this.fnv = Math.imul(this.fnv ^ c, 0x01000193);
    let k = Math.imul(c, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    let h = this.murmur ^ Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    this.murmur = (Math.imul(h, 5) + 0xe6546b64) | 0;
    this.length++;
  }

  /** Pushes s[from, to), last character first. */
  pushRange(s: string, from: number, to: number): void {
    for (let i = to - 1; i >= from; i--) this.push(s.charCodeAt(i));
  }

  /** The fingerprint's high word: also where the set looks first. */
  get hi(): number {
    return fmix(this.fnv, this.length);
  }

  /** The low word, never 0 (an empty slot). */
  get lo(): number {
    return (fmix(this.murmur, this.length) | 1) >>> 0;
  }
}

export class FingerprintSet {
  private count = 0;
  /** Slot i is (hi, lo) at [2i, 2i + 1]; lo 0 = empty. */
  private slots = new Uint32Array(INITIAL_SLOTS * 2);
  private mask = INITIAL_SLOTS - 1;
  private readonly hash = new ReverseHash();

  get size(): number {
    return this.count;
  }

  /** Keeps s[from, to)'s fingerprint; false when it was already there. */
  add(s: string, from = 0, to = s.length): boolean {
    this.hash.reset();
    this.hash.pushRange(s, from, to);
    return this.addHash(this.hash);
  }

  /** Whether s[from, to) is in the set. */
  has(s: string, from = 0, to = s.length): boolean {
    this.hash.reset();
    this.hash.pushRange(s, from, to);
    return this.hasHash(this.hash);
  }

  /** Whether the string `h` was fed is in the set. */
  hasHash(h: ReverseHash): boolean {
    const hi = h.hi;
    const lo = h.lo;
    const slots = this.slots;
    for (let i = hi & this.mask; ; i = (i + 1) & this.mask) {
      const l = slots[2 * i + 1] as number;
      if (l === 0) return false;
      if (l === lo && slots[2 * i] === hi) return true;
    }
  }

  private addHash(h: ReverseHash): boolean {
    if (this.hasHash(h)) return false;
    if ((this.count + 1) * 2 > this.mask + 1) this.rehash((this.mask + 1) * 2);
    this.place(h.hi, h.lo);
    this.count++;
    return true;
  }

  private place(hi: number, lo: number): void {
    for (let i = hi & this.mask; ; i = (i + 1) & this.mask) {
      if (this.slots[2 * i + 1] === 0) {
        this.slots[2 * i] = hi;
        this.slots[2 * i + 1] = lo;
        return;
      }
    }
  }

  private rehash(capacity: number): void {
    const old = this.slots;
    this.slots = new Uint32Array(capacity * 2);
    this.mask = capacity - 1;
    for (let i = 0; i < old.length; i += 2) {
      const lo = old[i + 1] as number;
      if (lo !== 0) this.place(old[i] as number, lo);
    }
  }
}
