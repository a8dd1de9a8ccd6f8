/**
 * A reader of PostgreSQL's binary COPY stream (`COPY … TO STDOUT WITH (FORMAT binary)`), one
 * or several COPYs back to back (one psql session runs a table after another): fields are
 * length-prefixed, so a value is a range of the bytes as they came, nothing to unescape, and
 * none becomes a JS value unless the caller decodes it. The PII check decodes only the
 * values a byte gate lets through (check-db.ts); Bun.sql built a row object of strings per row.
 *
 * Stream: an 11-byte signature, 32-bit flags, a 32-bit header extension length and that many
 * bytes; per tuple a 16-bit field count and per field a 32-bit length (-1: NULL) and the bytes;
 * a field count of -1 ends the COPY (big-endian throughout).
 */

const SIGNATURE = Buffer.from("PGCOPY\n\xff\r\n\0", "latin1");
/** Signature, flags, extension length. */
const HEADER_BYTES = 19;

/** One tuple's fields as ranges of `buf`: field i is buf[starts[i], ends[i]), or NULL when starts[i] is -1. */
export interface CopyTuple {
  buf: Buffer;
  count: number;
  starts: Int32Array;
  ends: Int32Array;
}

export interface CopyHandlers {
  /** `tuple` is valid only during the call (its arrays and bytes are reused). */
  onTuple(tuple: CopyTuple): void;
  /** The trailer of one COPY. */
  onEnd(): void;
}

export class CopyBinaryParser {
  /**
   * The start of an item split across chunks, copied here with what follows it until the item is
   * whole. Reused (it grows to the largest such item plus a chunk): concatenating into a new
   * buffer on almost every chunk was garbage as large as everything read.
   */
  private pending = Buffer.alloc(0);
  private pendingBytes = 0;
  /** Bytes the pending data must reach before parsing can advance. */
  private need = HEADER_BYTES;
  private inCopy = false;
  private readonly tuple: CopyTuple = {
    buf: Buffer.alloc(0),
    count: 0,
    starts: new Int32Array(16),
    ends: new Int32Array(16),
  };

  constructor(private readonly handlers: CopyHandlers) {}

  /**
   * Parses what `chunk` completes: in place when nothing is pending, else after appending it to
   * the pending bytes. Memory: at most one item plus one chunk.
   */
  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.pendingBytes === 0) {
      const from = this.parse(bytes);
      this.reserve(bytes.length - from);
      bytes.copy(this.pending, 0, from);
      this.pendingBytes = bytes.length - from;
      return;
    }
    this.reserve(this.pendingBytes + bytes.length);
    bytes.copy(this.pending, this.pendingBytes);
    this.pendingBytes += bytes.length;
    if (this.pendingBytes < this.need) return;
    const from = this.parse(this.pending.subarray(0, this.pendingBytes));
    this.pending.copyWithin(0, from, this.pendingBytes);
    this.pendingBytes -= from;
  }

  /** Room for `bytes` pending bytes, the ones held kept. */
  private reserve(bytes: number): void {
    if (bytes <= this.pending.length) return;
    const grown = Buffer.allocUnsafe(Math.max(bytes, this.pending.length * 2));
    this.pending.copy(grown, 0, 0, this.pendingBytes);
    this.pending = grown;
  }

  /** Parses whole items from the start of `buf`; returns where the first incomplete one starts. */
  private parse(buf: Buffer): number {
    let pos = 0;
    for (;;) {
      if (!this.inCopy) {
        if (buf.length - pos < HEADER_BYTES) return this.wait(HEADER_BYTES, pos);
        if (!buf.subarray(pos, pos + SIGNATURE.length).equals(SIGNATURE))
          throw new Error("not a binary COPY stream (bad signature)");
        const header = HEADER_BYTES + buf.readInt32BE(pos + 15);
        if (buf.length - pos < header) return this.wait(header, pos);
        pos += header;
        this.inCopy = true;
        continue;
      }
      if (buf.length - pos < 2) return this.wait(2, pos);
      const count = buf.readInt16BE(pos);
      if (count === -1) {
        pos += 2;
        this.inCopy = false;
        this.handlers.onEnd();
        continue;
      }
      const end = this.fields(buf, pos, count);
      if (end < 0) return this.wait(-end - pos, pos);
      this.handlers.onTuple(this.tuple);
      pos = end;
    }
  }

  /**
   * Fills `tuple` with the tuple at `pos`; returns its end, or minus the end of what must arrive
   * next when it is not all here.
   */
  private fields(buf: Buffer, pos: number, count: number): number {
    const t = this.tuple;
    if (t.starts.length < count) {
      t.starts = new Int32Array(count);
      t.ends = new Int32Array(count);
    }
    let p = pos + 2;
    for (let i = 0; i < count; i++) {
      if (buf.length - p < 4) return -(p + 4);
      const len = buf.readInt32BE(p);
      p += 4;
      if (len === -1) {
        t.starts[i] = -1;
        t.ends[i] = -1;
        continue;
      }
      if (buf.length - p < len) return -(p + len);
      t.starts[i] = p;
      t.ends[i] = p + len;
      p += len;
    }
    t.buf = buf;
    t.count = count;
    return p;
  }

  /** Parsing resumes at `pos` once `bytes` from there have arrived. */
  private wait(bytes: number, pos: number): number {
    this.need = bytes;
    return pos;
  }
}
