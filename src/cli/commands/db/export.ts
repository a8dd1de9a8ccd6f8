import { createWriteStream } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { Writable } from "node:stream";
import { defineCommand } from "citty";
import { formatBytes } from "../../../bytes";
import { AppError, Conflict } from "../../../errors";
import type { ApiClient } from "../../client";
import { client, type CliIo } from "../../io";
import { note, printJson } from "../../output";
import { followJob } from "../../progress";
import { reportJob } from "../jobs";
import { envArg } from "./shared";

/** "20250102-030405" (UTC), for default export file names. */
function stamp(d = new Date()): string {
  return d.toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-");
}

/** Streams export `id` to `out` (via `<out>.partial`), checking its length against the server's. */
async function download(c: ApiClient, id: string, out: string): Promise<number> {
  const res = await c.download("/exports/{id}", { params: { id } });
  if (!res.body) throw new AppError(`the daemon sent no body for /exports/${id}`);
  const partial = `${out}.partial`;
  try {
    await res.body.pipeTo(Writable.toWeb(createWriteStream(partial, { mode: 0o600 })));
    const bytes = (await stat(partial)).size;
    const expected = Number(res.headers.get("content-length") ?? bytes);
    if (bytes !== expected)
      throw new AppError(
        `download of /exports/${id} was cut short (${bytes} of ${expected} bytes); run the export again`,
      );
    await rename(partial, out);
    return bytes;
  } catch (e) {
    await rm(partial, { force: true });
    throw e;
  }
}

export function exportCommand(io: CliIo) {
  return defineCommand({
    meta: {
      name: "export",
      description: "Download the database and filestore as the zip Odoo's database manager and Odoo.sh import",
    },
    args: {
      env: envArg,
      out: { type: "string", description: "file to write (default: <env>-<UTC time>.zip in the current directory)" },
    },
    async run({ args }) {
      const out = resolve(args.out ?? `${args.env}-${stamp()}.zip`);
      if (
        await stat(out).then(
          () => true,
          () => false,
        )
      )
        throw new Conflict(`${out} already exists; choose another --out or remove it`);
      const c = client(io);
      const queued = await c.post("/environments/{name}/db/export", { params: { name: args.env } });
      const job = await followJob(io, c, queued.id);
      if (job.status !== "succeeded") return reportJob(io, job);
      const id = String(job.result?.exportId);
      const bytes = await download(c, id, out);
      // The daemon keeps no copy: the file now lives where the user asked for it.
      await c.delete("/exports/{id}", { params: { id } });
      if (io.globals.json) return printJson(io, { file: out, bytes, job: job.id });
      note(io, `exported ${args.env} to ${out} (${formatBytes(bytes)})`);
    },
  });
}
