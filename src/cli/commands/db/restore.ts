import { defineCommand } from "citty";
import { client, type CliIo } from "../../io";
import {
  anonymizeArg,
  confirmedOperation,
  envArg,
  forceProductionArg,
  keepOldArg,
  type SendOperation,
  waitArg,
  yesArg,
} from "./shared";

export function restoreCommand(io: CliIo) {
  return defineCommand({
    meta: {
      name: "restore",
      description:
        "Replace an environment's database and filestore with one of its backups (or, with --to, put it into another environment)",
    },
    args: {
      env: { ...envArg, description: "environment whose backup is restored" },
      backup: {
        type: "string",
        required: true,
        description:
          "backup id, or latest (see: odooops db backups <env> [--include-destroyed]); a destroyed env's backup needs --to",
      },
      to: { type: "string", description: "restore into this environment instead (neutralized unless production)" },
      "keep-old": keepOldArg,
      anonymize: anonymizeArg,
      "force-production": forceProductionArg,
      yes: yesArg,
      wait: waitArg,
    },
    async run({ args }) {
      const body = {
        backup: args.backup,
        ...(args.to !== undefined ? { from: args.env } : {}),
        keepOld: args["keep-old"] === true,
        ...(args.anonymize !== undefined ? { anonymize: args.anonymize } : {}),
        forceProduction: args["force-production"] === true,
      };
      const c = client(io);
      const params = { name: args.to ?? args.env };
      const send: SendOperation = (extra, shown) =>
        c.post("/environments/{name}/db/restore", {
          params,
          // "latest" could change between the question and the answer: restore what was shown.
          body: { ...body, ...(shown?.backup ? { backup: shown.backup.id } : {}), ...extra },
        });
      await confirmedOperation(io, send, {
        yes: args.yes === true,
        forceProduction: args["force-production"] === true,
        wait: args.wait === true,
      });
    },
  });
}
