/** `odooops env move ENV --to HOST [--dry-run]`: the plan of a move between hosts (src/fleet/move.ts). */
import { defineCommand } from "citty";
import type { ResponseOf } from "../api";
import { client, type CliIo } from "../io";
import { printJson } from "../output";

type MovePlan = ResponseOf<"post", "/environments/{name}/move">["plan"];

export function renderMovePlan(plan: MovePlan): string {
  return [
    `move ${plan.env} from ${plan.from} to ${plan.to} (${plan.fit})`,
    ...plan.steps.map((s, i) => `  ${i + 1}. ${s}`),
    `DNS: ${plan.dns}`,
  ].join("\n");
}

export function envMoveCommand(io: CliIo) {
  return defineCommand({
    meta: { name: "move", description: "Move an environment to another host (--dry-run: the plan; admins)" },
    args: {
      name: { type: "positional", required: true, description: "environment name" },
      to: { type: "string", required: true, description: "the host it goes to (odooops host list)" },
      "dry-run": { type: "boolean", description: "check and show the plan; change nothing" },
    },
    async run({ args }) {
      const r = await client(io).post("/environments/{name}/move", {
        params: { name: args.name },
        body: { to: args.to, dryRun: args["dry-run"] === true },
      });
      if (io.globals.json) return printJson(io, r);
      io.stdout(`${renderMovePlan(r.plan)}\n`);
    },
  });
}
