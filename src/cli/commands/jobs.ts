import { defineCommand } from "citty";
import type { CliIo } from "../io";

export function jobsCommand(_io: CliIo) {
  return defineCommand({
    meta: { name: "jobs", description: "Follow jobs: show, logs, wait" },
    subCommands: {},
  });
}
