import { defineCommand } from "citty";
import { formatBytes } from "../../../bytes";
import { Invalid } from "../../../errors";
import { client, type CliIo } from "../../io";
import { note, printJson, printTable } from "../../output";
import { when } from "./shared";

export function exportsCommand(io: CliIo) {
  return defineCommand({
    meta: {
      name: "exports",
      description:
        "Exports still on the daemon's host (never downloaded), with when they expire; --clean deletes the expired ones now",
    },
    args: {
      clean: {
        type: "boolean",
        description: "delete the expired exports now instead of waiting for the exports.sweep schedule",
      },
      all: { type: "boolean", description: "with --clean: delete every finished export, expired or not" },
    },
    async run({ args }) {
      if (args.all === true && args.clean !== true) throw new Invalid("--all only goes with --clean");
      const c = client(io);
      const list =
        args.clean === true
          ? await c.post("/exports/clean", { body: { all: args.all === true } })
          : await c.get("/exports");
      if (io.globals.json) return printJson(io, list);
      if (args.clean === true)
        note(
          io,
          `deleted ${list.length} export${list.length === 1 ? "" : "s"} (${formatBytes(list.reduce((n, e) => n + e.bytes, 0))})`,
        );
      printTable(
        io,
        list.map((e) => ({
          id: e.id,
          env: e.env ?? "-",
          size: formatBytes(e.bytes),
          written: when(e.writtenAt),
          expires: when(e.expiresAt),
          by: e.createdBy ?? "-",
        })),
        [
          { key: "id", label: "id" },
          { key: "env", label: "env" },
          { key: "size", label: "size" },
          { key: "written", label: "written" },
          { key: "expires", label: "expires" },
          { key: "by", label: "by" },
        ],
      );
    },
  });
}
