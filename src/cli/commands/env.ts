import { defineCommand } from "citty";
import type { EnvSummary } from "../../env/schema";
import { Invalid } from "../../errors";
import { client, type CliIo } from "../io";
import { printJson, printTable } from "../output";

const TIERS = ["dev", "dev_ephemeral", "staging", "production"];

export function envCommand(io: CliIo) {
  const list = defineCommand({
    meta: { name: "list", description: "List environments" },
    args: { tier: { type: "string", description: `only this tier (${TIERS.join(", ")})` } },
    async run({ args }) {
      if (args.tier && !TIERS.includes(args.tier)) throw new Invalid(`unknown tier ${JSON.stringify(args.tier)}; one of ${TIERS.join(", ")}`);
      const q = args.tier ? `?tier=${encodeURIComponent(args.tier)}` : "";
      const envs = await client(io).get<EnvSummary[]>(`/environments${q}`);
      if (io.globals.json) return printJson(io, envs);
      printTable(io, envs, [
        { key: "name", label: "name" },
        { key: "tier", label: "tier" },
        { key: "status", label: "status" },
        { key: "branch", label: "branch" },
        { key: "url", label: "url" },
      ]);
    },
  });

  return defineCommand({
    meta: { name: "env", description: "Environments: create, list, get, start/stop, logs, destroy" },
    subCommands: { list },
  });
}
