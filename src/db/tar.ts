/**
 * ustar headers as data (POSIX.1-1988), both ways: `db import --filestore` sends a filestore as a
 * tar and the job reads it back. Only what a filestore needs: regular files and directories with
 * short relative names; everything else is refused by the reader (filestore-tar.ts).
 */
export const BLOCK = 512;

export type TarType = "file" | "dir" | "other";

export interface TarHeader {
  name: string;
  size: number;
  type: TarType;
  /** The raw type flag, for messages ("2" = symlink…). */
  flag: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function field(buf: Uint8Array, off: number, len: number): string {
  const raw = buf.subarray(off, off + len);
  const end = raw.indexOf(0);
  return dec.decode(end < 0 ? raw : raw.subarray(0, end));
}

function octal(buf: Uint8Array, off: number, len: number): number {
  const s = field(buf, off, len).trim();
  return s === "" ? 0 : Number.parseInt(s, 8);
}

function checksum(buf: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : buf[i]!;
  return sum;
}

/** null at the end-of-archive block; throws on a damaged header. */
export function parseTarHeader(buf: Uint8Array): TarHeader | null {
  if (buf.length !== BLOCK) throw new Error("truncated tar header");
  if (buf.every((b) => b === 0)) return null;
  if (!field(buf, 257, 6).startsWith("ustar")) throw new Error("not a ustar archive");
  if (octal(buf, 148, 8) !== checksum(buf)) throw new Error("bad tar header checksum");
  const name = field(buf, 0, 100);
  const prefix = field(buf, 345, 155);
  const flag = String.fromCharCode(buf[156] ?? 0);
  const size = octal(buf, 124, 12);
  if (!Number.isSafeInteger(size) || size < 0) throw new Error(`bad size in the tar header of ${JSON.stringify(name)}`);
  const type: TarType = flag === "0" || flag === "\0" ? "file" : flag === "5" ? "dir" : "other";
  return { name: prefix ? `${prefix}/${name}` : name, size, type, flag };
}

function put(buf: Uint8Array, off: number, len: number, s: string): void {
  const b = enc.encode(s);
  if (b.length > len) throw new Error(`tar field too long: ${s}`);
  buf.set(b, off);
}

/** A ustar header for a file or directory (names over 100 bytes go into the prefix field). */
export function tarHeader(h: {
  name: string;
  size: number;
  type: "file" | "dir";
  mode?: number;
  mtime?: number;
}): Uint8Array {
  const buf = new Uint8Array(BLOCK);
  let name = h.name;
  let prefix = "";
  if (enc.encode(name).length > 100) {
    const cut = name.lastIndexOf("/");
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
  }
  put(buf, 0, 100, name);
  put(buf, 100, 8, `${(h.mode ?? (h.type === "dir" ? 0o755 : 0o644)).toString(8).padStart(7, "0")}\0`);
  put(buf, 108, 8, "0000000\0");
  put(buf, 116, 8, "0000000\0");
  put(buf, 124, 12, `${h.size.toString(8).padStart(11, "0")}\0`);
  put(
    buf,
    136,
    12,
    `${Math.floor(h.mtime ?? 0)
      .toString(8)
      .padStart(11, "0")}\0`,
  );
  buf[156] = (h.type === "dir" ? "5" : "0").charCodeAt(0);
  put(buf, 257, 6, "ustar\0");
  put(buf, 263, 2, "00");
  put(buf, 345, 155, prefix);
  put(buf, 148, 8, `${checksum(buf).toString(8).padStart(6, "0")}\0 `);
  return buf;
}

/** Zero bytes after a member's data up to the next block. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}
