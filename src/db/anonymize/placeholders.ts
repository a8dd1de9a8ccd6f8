/**
 * The files an anonymized copy gets instead of the source's business attachments: a valid tiny
 * PDF, PNG, text and a generic binary, plus a few generated avatars for people's images. Built
 * once in memory; the copy's filestore holds them under Odoo's own layout
 * (`<checksum[:2]>/<checksum>`, checksum = sha1 of the content: ir_attachment._get_path).
 */
import { createHash } from "node:crypto";
import { deflateSync } from "node:zlib";

export interface Placeholder {
  /** What the COPY query joins on (see attachments.ts). */
  key: string;
  data: Buffer;
  mimetype: string;
  sha1: string;
  /** `ab/ab12…`: store_fname, the path under the copy's filestore. */
  storeFname: string;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = (CRC_TABLE[(c ^ b) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([head, body, crc]);
}

/** A `size`×`size` RGB PNG of one colour. */
export function solidPng(size: number, [r, g, b]: [number, number, number]): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const row = Buffer.alloc(1 + size * 3);
  for (let x = 0; x < size; x++) row.set([r, g, b], 1 + x * 3);
  const raw = Buffer.concat(Array.from({ length: size }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** One page saying "anonymized", with a correct xref table (viewers repair a wrong one, validators do not). */
export function tinyPdf(): Buffer {
  const text = "BT /F1 18 Tf 40 60 Td (anonymized) Tj ET";
  const objects = [
    "<</Type/Catalog/Pages 2 0 R>>",
    "<</Type/Pages/Kids[3 0 R]/Count 1>>",
    "<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 144]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>",
    `<</Length ${text.length}>>\nstream\n${text}\nendstream`,
    "<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>",
  ];
  let out = "%PDF-1.4\n";
  const offsets: number[] = [];
  objects.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, "0")} 00000 n \n`).join("")}`;
  out += `trailer\n<</Size ${objects.length + 1}/Root 1 0 R>>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, "latin1");
}

function placeholder(key: string, data: Buffer, mimetype: string): Placeholder {
  const sha1 = createHash("sha1").update(data).digest("hex");
  return { key, data, mimetype, sha1, storeFname: `${sha1.slice(0, 2)}/${sha1}` };
}

/** Muted colours: people's images become one of these, picked by record id. */
const AVATAR_COLOURS: [number, number, number][] = [
  [0x87, 0x5a, 0x7b],
  [0x4c, 0x7a, 0x9b],
  [0x5b, 0x8c, 0x5a],
  [0xc0, 0x8a, 0x3e],
  [0x9b, 0x4c, 0x4c],
  [0x4c, 0x9b, 0x94],
  [0x6b, 0x6b, 0x9b],
  [0x8c, 0x8c, 0x5a],
];
export const AVATAR_COUNT = AVATAR_COLOURS.length;

export const PLACEHOLDERS: readonly Placeholder[] = [
  placeholder("pdf", tinyPdf(), "application/pdf"),
  placeholder("png", solidPng(8, [0xcc, 0xcc, 0xcc]), "image/png"),
  placeholder("txt", Buffer.from("anonymized\n"), "text/plain"),
  placeholder("bin", Buffer.from("odooops: anonymized placeholder\n"), "application/octet-stream"),
  ...AVATAR_COLOURS.map((c, i) => placeholder(`avatar${i}`, solidPng(128, c), "image/png")),
];
