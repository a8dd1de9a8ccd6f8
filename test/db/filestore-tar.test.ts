/**
 * The filestore tar of `db import --filestore`: what the CLI builds from a directory reads back
 * file for file, a tar made by GNU tar is accepted, and every unsafe or oversized tar (links,
 * absolute and `..` names, devices, extended headers, truncation, duplicates, over the entry or
 * size caps) is refused before anything is written.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tarMembers, tarStream } from "../../src/cli/tar-dir";
import { checkFilestoreTar, extractFilestoreTar, filestoreEntryPath } from "../../src/db/filestore-tar";
import { BLOCK, padding, parseTarHeader, tarHeader } from "../../src/db/tar";
import { run } from "../../src/exec/run";
import { makeTempDir, removeTempDir } from "../support/tmp";

let tmp: string;
const LIMITS = { maxEntries: 100, maxUnpackedBytes: 1024 * 1024 };
let n = 0;

beforeAll(() => {
  tmp = makeTempDir("filestore-tar-");
});
afterAll(() => removeTempDir(tmp));

/** A tar with these raw members; `flag` overrides the type flag (checksum recomputed). */
function craft(members: { name: string; data?: string; flag?: string }[], opts: { truncate?: number } = {}): string {
  const parts: Uint8Array[] = [];
  for (const m of members) {
    const data = new TextEncoder().encode(m.data ?? "");
    const h = tarHeader({ name: m.name, size: data.length, type: m.name.endsWith("/") ? "dir" : "file" });
    if (m.flag) {
      h[156] = m.flag.charCodeAt(0);
      let sum = 0;
      for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
      h.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, "0")}\0 `), 148);
    }
    parts.push(h, data, new Uint8Array(padding(data.length)));
  }
  parts.push(new Uint8Array(1024));
  let buf = Buffer.concat(parts);
  if (opts.truncate) buf = buf.subarray(0, opts.truncate);
  const path = join(tmp, `crafted-${++n}.tar`);
  writeFileSync(path, buf);
  return path;
}

async function streamToFile(stream: ReadableStream<Uint8Array>, path: string): Promise<void> {
  writeFileSync(path, new Uint8Array(await new Response(stream).arrayBuffer()));
}

function tree(dir: string, rel = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) Object.assign(out, tree(dir, r));
    else out[r] = readFileSync(join(dir, r)).toString("base64");
  }
  return out;
}

describe("ustar headers", () => {
  test("round trip, long names in the prefix field, the end block", () => {
    const long = `${"d".repeat(90)}/${"f".repeat(60)}`;
    expect(parseTarHeader(tarHeader({ name: "ab/ab12", size: 1234, type: "file" }))).toEqual({
      name: "ab/ab12",
      size: 1234,
      type: "file",
      flag: "0",
    });
    expect(parseTarHeader(tarHeader({ name: long, size: 0, type: "file" }))?.name).toBe(long);
    expect(parseTarHeader(tarHeader({ name: "ab/", size: 0, type: "dir" }))?.type).toBe("dir");
    expect(parseTarHeader(new Uint8Array(BLOCK))).toBeNull();
    const bad = tarHeader({ name: "x", size: 1, type: "file" });
    bad[0] = "y".charCodeAt(0);
    expect(() => parseTarHeader(bad)).toThrow(/checksum/);
  });
  test("entry names stay inside the filestore", () => {
    expect(filestoreEntryPath("./ab/ab12")).toBe("ab/ab12");
    expect(filestoreEntryPath("ab/")).toBe("ab");
    expect(filestoreEntryPath("./")).toBeNull();
    for (const bad of ["/etc/passwd", "../x", "ab/../../x", "ab/..", "a\\b"])
      expect(() => filestoreEntryPath(bad)).toThrow();
  });
});

describe("checking and reading a filestore tar", () => {
  test("a directory sent by the CLI reads back file for file; symlinks are left out and reported", async () => {
    const src = join(tmp, "src");
    mkdirSync(join(src, "ab"), { recursive: true });
    mkdirSync(join(src, "cd"), { recursive: true });
    writeFileSync(join(src, "ab", "ab12cd"), "attachment one");
    writeFileSync(join(src, "cd", "cd34ef"), Buffer.alloc(100_000, 7));
    writeFileSync(join(src, "cd", "empty"), "");
    symlinkSync("/etc/passwd", join(src, "ab", "link"));
    const { members, skipped } = tarMembers(src);
    expect(skipped).toEqual(["ab/link"]);
    const tar = join(tmp, "cli.tar");
    await streamToFile(tarStream(members), tar);
    // GNU tar reads it as a normal archive.
    const listed = await run({ argv: ["tar", "-tf", tar] });
    expect(listed.stdout.split("\n").filter(Boolean)).toEqual(["ab/", "ab/ab12cd", "cd/", "cd/cd34ef", "cd/empty"]);
    const out = join(tmp, "out-cli");
    mkdirSync(out);
    expect(await extractFilestoreTar(tar, out, LIMITS)).toEqual({ files: 3, bytes: 100_014 });
    const expected = tree(src);
    delete expected["ab/link"];
    expect(tree(out)).toEqual(expected);
  });

  test("a tar made with GNU tar (./ names) is accepted", async () => {
    const src = join(tmp, "gnu-src");
    mkdirSync(join(src, "ef"), { recursive: true });
    writeFileSync(join(src, "ef", "ef56"), "three");
    const tar = join(tmp, "gnu.tar");
    await run({ argv: ["tar", "-cf", tar, "-C", src, "."] });
    const out = join(tmp, "out-gnu");
    mkdirSync(out);
    expect((await extractFilestoreTar(tar, out, LIMITS)).files).toBe(1);
    expect(readFileSync(join(out, "ef", "ef56"), "utf8")).toBe("three");
  });

  const refused: [string, () => Promise<string> | string, RegExp][] = [
    [
      "a symbolic link",
      () =>
        craft([
          { name: "ab/", data: "" },
          { name: "ab/x", flag: "2" },
        ]),
      /symbolic link/,
    ],
    ["a hard link", () => craft([{ name: "ab/x", flag: "1" }]), /hard link/],
    ["a device", () => craft([{ name: "ab/x", flag: "3" }]), /device/],
    [
      "a pax extended header",
      () => craft([{ name: "PaxHeader/x", data: "30 path=../../etc/cron.d/evil\n", flag: "x" }]),
      /extended headers/,
    ],
    ["an absolute name", () => craft([{ name: "/tmp/evil", data: "x" }]), /absolute/],
    ["a name climbing out", () => craft([{ name: "ab/../../evil", data: "x" }]), /outside/],
    [
      "the same file twice",
      () =>
        craft([
          { name: "ab/x", data: "1" },
          { name: "ab/x", data: "2" },
        ]),
      /twice/,
    ],
    ["a truncated tar", () => craft([{ name: "ab/x", data: "y".repeat(2000) }], { truncate: 1200 }), /truncated/],
    [
      "not a tar",
      () => {
        const p = join(tmp, "not.tar");
        writeFileSync(p, Buffer.alloc(1024, 65));
        return p;
      },
      /not a readable tar/,
    ],
    [
      "more entries than imports.maxZipEntries",
      () => craft(Array.from({ length: 101 }, (_, i) => ({ name: `ab/f${i}`, data: "x" }))),
      /maxZipEntries/,
    ],
    [
      "more bytes than imports.maxUnpackedMb",
      () => craft([{ name: "ab/big", data: "z".repeat(1024 * 1024 + 1) }]),
      /maxUnpackedMb/,
    ],
  ];
  for (const [what, make, message] of refused) {
    test(`refused, nothing written: ${what}`, async () => {
      const tar = await make();
      const out = join(tmp, `out-refused-${++n}`);
      mkdirSync(out);
      await expect(checkFilestoreTar(tar, LIMITS)).rejects.toThrow(message);
      await expect(extractFilestoreTar(tar, out, LIMITS)).rejects.toThrow(message);
      expect(readdirSync(out)).toEqual([]);
      expect(existsSync("/tmp/evil")).toBe(false);
    });
  }
});
