/** The binary COPY reader (copy-binary.ts) on hand-built streams, cut at every byte. */
import { describe, expect, test } from "bun:test";
import { CopyBinaryParser, type CopyTuple } from "../../../src/db/anonymize/copy-binary";

const SIGNATURE = Buffer.from("PGCOPY\n\xff\r\n\0", "latin1");

function int(bytes: number, v: number): Buffer {
  const b = Buffer.alloc(bytes);
  if (bytes === 2) b.writeInt16BE(v);
  else b.writeInt32BE(v);
  return b;
}

/** One COPY's bytes: header (with `ext` extension bytes), the tuples, the trailer. */
function copyStream(tuples: (string | null)[][], ext = 0): Buffer {
  const parts = [SIGNATURE, int(4, 0), int(4, ext), Buffer.alloc(ext, 7)];
  for (const t of tuples) {
    parts.push(int(2, t.length));
    for (const f of t) {
      if (f === null) parts.push(int(4, -1));
      else {
        const b = Buffer.from(f);
        parts.push(int(4, b.length), b);
      }
    }
  }
  parts.push(int(2, -1));
  return Buffer.concat(parts);
}

/** What the parser reports: per COPY, its tuples as strings (null for NULL). */
function parse(chunks: Uint8Array[]): (string | null)[][][] {
  const copies: (string | null)[][][] = [[]];
  const parser = new CopyBinaryParser({
    onTuple: (t: CopyTuple) => {
      const row: (string | null)[] = [];
      for (let i = 0; i < t.count; i++) {
        const s = t.starts[i] as number;
        row.push(s < 0 ? null : t.buf.toString("utf8", s, t.ends[i]));
      }
      copies[copies.length - 1]?.push(row);
    },
    onEnd: () => copies.push([]),
  });
  for (const c of chunks) parser.push(c);
  // The last entry is the COPY not yet ended by its trailer (it must be empty).
  expect(copies.pop()).toEqual([]);
  return copies;
}

const ROWS: (string | null)[][] = [
  ["ann@x.io", null, ""],
  [null, null, null],
  ["é ü 02 512 34 56", "x".repeat(300), "z"],
  [],
];

describe("CopyBinaryParser", () => {
  test("one chunk: every tuple, NULLs (-1) apart from empty values, the trailer ends the COPY", () => {
    expect(parse([copyStream(ROWS)])).toEqual([ROWS]);
    expect(parse([copyStream([])])).toEqual([[]]);
  });

  test("cut at every byte, in two and in single bytes: the same tuples (fields split across chunks)", () => {
    const all = copyStream(ROWS, 5);
    for (let cut = 0; cut <= all.length; cut++) {
      expect(parse([all.subarray(0, cut), all.subarray(cut)])).toEqual([ROWS]);
    }
    expect(parse([...all].map((b) => Uint8Array.of(b)))).toEqual([ROWS]);
  });

  test("COPYs back to back (one psql session), each with its header and trailer", () => {
    const a = copyStream(ROWS);
    const b = copyStream([["1"], ["2"]], 3);
    const both = Buffer.concat([a, b]);
    for (const cut of [a.length - 1, a.length, a.length + 1, a.length + 10]) {
      expect(parse([both.subarray(0, cut), both.subarray(cut)])).toEqual([ROWS, [["1"], ["2"]]]);
    }
  });

  test("a COPY is whole only with its trailer; a stream that is not binary COPY is refused", () => {
    const all = copyStream(ROWS);
    const copies: number[] = [];
    const parser = new CopyBinaryParser({ onTuple: () => undefined, onEnd: () => copies.push(1) });
    parser.push(all.subarray(0, all.length - 1));
    expect(copies).toEqual([]);
    parser.push(all.subarray(all.length - 1));
    expect(copies).toEqual([1]);
    expect(() => parse([Buffer.from("COPY 12\nsomething else here")])).toThrow("bad signature");
  });
});
