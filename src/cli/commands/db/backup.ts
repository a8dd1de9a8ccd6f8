import { defineCommand } from "citty";
import { client, type CliIo } from "../../io";
import { note } from "../../output";
import { afterEnqueue } from "../jobs";
import { envArg, waitArg } from "./shared";

export function backupCommand(io: CliIo) {
  return defineCommand({
    meta: { name: "backup", description: "Back up an environment's database and filestore, then apply retention" },
    args: { env: envArg, wait: waitArg },
    async run({ args }) {
      const job = await client(io).post("/environments/{name}/backups", { params: { name: args.env } });
      note(io, `backing up ${job.target ?? args.env}`);
      await afterEnqueue(io, job, args.wait === true);
    },
  });
}
