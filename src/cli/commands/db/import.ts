import { stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { defineCommand } from "citty";
import { formatBytes } from "../../../bytes";
import { DUMP_HAS_NO_FILESTORE, looksLikeZip } from "../../../db/import-notes";
import { Invalid } from "../../../errors";
import { type ApiClient, flag } from "../../client";
import { confirmDestructive } from "../../confirm";
import { client, type CliIo } from "../../io";
import { note } from "../../output";
import { tarMembers, tarStream } from "../../tar-dir";
import { afterEnqueue } from "../jobs";
import { envArg, forceProductionArg, keepOldArg, waitArg, yesArg } from "./shared";

/** Sends the filestore (a directory as a tar stream, or the tar as is); the daemon checks it and returns its id. */
async function uploadFilestore(io: CliIo, c: ApiClient, slug: string, path: string, dir: boolean): Promise<string> {
  let body: ReadableStream<Uint8Array> | Blob = Bun.file(path);
  if (dir) {
    const { members, skipped } = tarMembers(path);
    for (const s of skipped) io.stderr(`warning: ${join(path, s)} is not a regular file or directory: left out\n`);
    body = tarStream(members);
  }
  const out = await c.upload("/environments/{name}/db/import/filestore", { params: { name: slug }, body });
  note(io, `  filestore uploaded and checked: ${out.entries} entries, ${formatBytes(out.bytes)}`);
  return out.filestore;
}

export function importCommand(io: CliIo) {
  return defineCommand({
    meta: {
      name: "import",
      description:
        "Replace an environment's database and filestore with an Odoo export zip (dump.sql, filestore/, manifest.json) or a pg_dump -Fc .dump",
    },
    args: {
      env: envArg,
      file: { type: "positional", required: true, description: "the .zip or .dump to import" },
      filestore: {
        type: "string",
        description: "with a .dump: the database's filestore, a directory (its ab/ab12… files) or a tar of it",
      },
      neutralize: {
        type: "boolean",
        description:
          "neutralize the imported database (default: unless production); --no-neutralize to keep crons and mail servers as they are",
      },
      "keep-old": keepOldArg,
      "force-production": {
        ...forceProductionArg,
        description: "allow importing into a production environment (with --yes)",
      },
      yes: yesArg,
      wait: waitArg,
    },
    async run({ args }) {
      const file = resolve(args.file);
      const size = await stat(file).then(
        (s) => (s.isFile() ? s.size : null),
        () => null,
      );
      if (size === null) throw new Invalid(`${file} is not a readable file`);
      const c = client(io);
      const env = await c.get("/environments/{name}", { params: { name: args.env } });
      const production = env.tier === "production";
      const neutralize = args.neutralize ?? !production;
      note(
        io,
        `import: the database and the filestore of ${env.tier} environment ${env.slug} (${env.status}) will be replaced by ${file} (${formatBytes(size)})`,
      );
      if (production) note(io, "  a backup of the current database is taken first (pre_restore)");
      if (neutralize)
        note(io, "  the import is neutralized: crons and mail servers off, its own URL and database.uuid");
      note(
        io,
        args["keep-old"] === true
          ? "  the current database is kept under an _old_ name"
          : "  the current database is dropped once the new one is healthy (--keep-old keeps it)",
      );
      const zip = await looksLikeZip(file);
      const filestore = args.filestore === undefined ? null : resolve(args.filestore);
      if (filestore !== null && zip)
        throw new Invalid("--filestore goes with a .dump: an Odoo export zip carries its own filestore");
      if (!zip && filestore === null) io.stderr(`warning: ${DUMP_HAS_NO_FILESTORE}; add it with --filestore DIR|TAR\n`);
      const filestoreKind =
        filestore === null
          ? null
          : await stat(filestore).then(
              (s) => (s.isDirectory() ? "dir" : s.isFile() ? "tar" : null),
              () => null,
            );
      if (filestore !== null && filestoreKind === null)
        throw new Invalid(`${filestore} is neither a directory nor a readable file`);
      if (filestore !== null) note(io, `  the filestore comes from ${filestore}`);
      if (production && !(args.yes === true && args["force-production"] === true)) {
        throw new Invalid(
          `refusing to replace production environment ${env.slug} with an import: pass --yes --force-production if that is really what you want`,
        );
      }
      await confirmDestructive(io, {
        yes: args.yes === true,
        what: `replace the database and filestore of ${env.tier} environment ${env.slug}`,
        typeToConfirm: production ? env.slug : undefined,
        flagHint: "--yes",
      });
      const query: Record<string, string> = {
        neutralize: flag(neutralize),
        keepOld: flag(args["keep-old"] === true),
        forceProduction: flag(args["force-production"] === true),
        confirm: env.slug,
      };
      if (filestore !== null)
        query.filestore = await uploadFilestore(io, c, env.slug, filestore, filestoreKind === "dir");
      const job = await c.upload("/environments/{name}/db/import", {
        params: { name: env.slug },
        query,
        body: Bun.file(file),
      });
      note(io, `import into ${env.slug} queued`);
      await afterEnqueue(io, job, args.wait === true);
    },
  });
}
