/**
 * `db import --filestore DIR`: the directory as a ustar stream (db/tar.ts), built while it is sent.
 * Regular files and directories only, names relative to DIR; symbolic links and other special
 * files are left out and reported, as the daemon would refuse them anyway.
 */
import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { padding, tarHeader } from "../db/tar";

interface Member {
  rel: string;
  abs: string;
  dir: boolean;
  size: number;
}

/** The members in a stable order (directories before their contents) and what was left out. */
export function tarMembers(root: string): { members: Member[]; skipped: string[] } {
  const members: Member[] = [];
  const skipped: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const abs = join(root, r);
      const st = lstatSync(abs);
      if (st.isDirectory()) {
        members.push({ rel: r, abs, dir: true, size: 0 });
        walk(r);
      } else if (st.isFile()) members.push({ rel: r, abs, dir: false, size: st.size });
      else skipped.push(r);
    }
  };
  walk("");
  return { members, skipped };
}

/** The tar of `members` as a stream, file contents read as they are sent. */
export function tarStream(members: Member[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const m = members[i++];
      if (!m) {
        controller.enqueue(new Uint8Array(1024));
        controller.close();
        return;
      }
      controller.enqueue(tarHeader({ name: m.dir ? `${m.rel}/` : m.rel, size: m.size, type: m.dir ? "dir" : "file" }));
      if (m.dir) return;
      const data = new Uint8Array(await Bun.file(m.abs).arrayBuffer());
      // A file that changed size while being sent would corrupt every member after it.
      if (data.byteLength !== m.size) throw new Error(`${m.abs} changed while being sent`);
      controller.enqueue(data);
      controller.enqueue(new Uint8Array(padding(m.size)));
    },
  });
}
