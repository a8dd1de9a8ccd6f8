import { defineCommand } from "citty";
import { client, type CliIo } from "../io";
import { note, printJson, printTable } from "../output";

interface ProjectView {
  name: string;
  repoUrl: string | null;
  defaultBranch: string;
  createdAt: string;
}

export function projectCommand(io: CliIo) {
  const set = defineCommand({
    meta: { name: "set", description: "Create a project or change its git repository / default branch" },
    args: {
      name: { type: "positional", required: true, description: "project name (\"default\" holds envs created without --project)" },
      repo: { type: "string", description: "addons repository: file:///path, ssh://…, https://… or user@host:path" },
      branch: { type: "string", description: "default branch (main)" },
    },
    async run({ args }) {
      const p = await client(io).put<ProjectView>(`/projects/${encodeURIComponent(args.name)}`, {
        ...(args.repo !== undefined ? { repoUrl: args.repo } : {}),
        ...(args.branch !== undefined ? { defaultBranch: args.branch } : {}),
      });
      if (io.globals.json) return printJson(io, p);
      note(io, `project ${p.name}: ${p.repoUrl ?? "no repository"} (default branch ${p.defaultBranch})`);
    },
  });
  return defineCommand({
    meta: { name: "project", description: "Projects: the git repository environments deploy from" },
    subCommands: {
      list: defineCommand({
        meta: { name: "list", description: "Projects and their repositories" },
        async run() {
          const list = await client(io).get<ProjectView[]>("/projects");
          if (io.globals.json) return printJson(io, list);
          printTable(io, list as unknown as Record<string, unknown>[], [
            { key: "name", label: "name" },
            { key: "repoUrl", label: "repository" },
            { key: "defaultBranch", label: "branch" },
          ]);
        },
      }),
      set,
      add: set,
    },
  });
}
