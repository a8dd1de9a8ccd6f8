import { defineCommand } from "citty";
import { confirmDestructive } from "../confirm";
import { client, type CliIo } from "../io";
import { note, printJson } from "../output";
import { deploymentTable } from "./deploy";
import { afterEnqueue } from "./jobs";

export function rollbackCommand(io: CliIo) {
  return defineCommand({
    meta: { name: "rollback", description: "Serve an earlier release again (its kept image, health-gated switch)" },
    args: {
      env: { type: "positional", required: true, description: "environment name" },
      to: { type: "string", description: "deployment id or commit sha (default: the previous successful deployment)" },
      list: { type: "boolean", description: "show the candidates and change nothing" },
      "restore-db": {
        type: "boolean",
        description: "also restore the database from before the migrations being undone",
      },
      "keep-db": { type: "boolean", description: "keep the newer database (old code on a newer schema)" },
      yes: { type: "boolean", alias: "y", description: "no confirmation (required without a terminal)" },
      wait: { type: "boolean", description: "follow the job and render its steps until it ends" },
    },
    async run({ args }) {
      const c = client(io);
      const params = { name: args.env };
      if (args.list) {
        const list = await c.get("/environments/{name}/rollback", { params });
        return io.globals.json ? printJson(io, list) : deploymentTable(io, list);
      }
      await confirmDestructive(io, {
        yes: args.yes === true,
        what: `switch ${args.env} back to ${args.to ?? "its previous release"}${args["restore-db"] ? " and restore its database (data written since is lost)" : ""}`,
        flagHint: "--yes",
      });
      const body = {
        ...(args.to ? { to: args.to } : {}),
        ...(args["restore-db"] ? { restoreDb: true } : {}),
        ...(args["keep-db"] ? { keepDb: true } : {}),
      };
      const out = await c.post("/environments/{name}/rollback", { params, body });
      note(
        io,
        `rolling ${args.env} back to ${out.deployment.commit?.slice(0, 12) ?? out.deployment.image ?? "?"} as release ${out.deployment.release}`,
      );
      await afterEnqueue(io, out.job, args.wait === true);
    },
  });
}
