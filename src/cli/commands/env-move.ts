/** `odooops env move ENV --to HOST [--dry-run] [--wait]`: move an env between hosts (src/fleet/move.ts). */
import { defineCommand } from "citty";
import type { ResponseOf } from "../api";
import { client, type CliIo } from "../io";
import { note, printJson } from "../output";
import { afterEnqueue } from "./jobs";

type MovePlan = ResponseOf<"post", "/environments/{name}/move">["plan"];

export function renderMovePlan(plan: MovePlan): string {
  return [
    `move ${plan.env} from ${plan.from} to ${plan.to} (${plan.fit})`,
    `  the copy travels ${plan.transfer === "s3" ? "through the shared S3 target" : "relayed through the coordinator (no shared S3 target)"}`,
    ...plan.steps.map((s, i) => `  ${i + 1}. ${s}`),
    `DNS: ${plan.dns}`,
  ].join("\n");
}

export function envMoveCommand(io: CliIo) {
  return defineCommand({
    meta: {
      name: "move",
      description: "Move an environment to another host (a job; --dry-run: the plan only; admins)",
    },
    args: {
      name: { type: "positional", required: true, description: "environment name" },
      to: { type: "string", required: true, description: "the host it goes to (odooops host list)" },
      "dry-run": { type: "boolean", description: "check and show the plan; change nothing" },
      wait: { type: "boolean", description: "follow the move job and render its steps until it ends" },
    },
    async run({ args }) {
      const r = await client(io).post("/environments/{name}/move", {
        params: { name: args.name },
        body: { to: args.to, dryRun: args["dry-run"] === true },
      });
      if (!r.job || (io.globals.json && args.wait !== true)) {
        if (io.globals.json) return printJson(io, r);
        return io.stdout(`${renderMovePlan(r.plan)}\n`);
      }
      note(io, renderMovePlan(r.plan));
      await afterEnqueue(io, r.job, args.wait === true);
      // DNS is the user's: said again once the env answers on the new host.
      if (args.wait === true && !io.globals.json) note(io, `DNS: ${r.plan.dns}`);
    },
  });
}
