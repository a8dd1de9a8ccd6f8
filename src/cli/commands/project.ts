import { readFileSync } from "node:fs";
import { defineCommand } from "citty";
import { Invalid, errnoText } from "../../errors";
import { client, type CliIo } from "../io";
import { note, printJson, printTable } from "../output";

/** The secret comes from a file so it never shows in `ps` or shell history; one trailing newline is not part of it. */
function readSecretFile(path: string): string {
  try {
    return readFileSync(path, "utf8").replace(/\r?\n$/, "");
  } catch (e) {
    throw new Invalid(`cannot read --webhook-secret-file ${path}: ${errnoText(e)}`);
  }
}

export function projectCommand(io: CliIo) {
  const set = defineCommand({
    meta: {
      name: "set",
      description: "Create a project or change its git repository / default branch / GitHub webhook secret",
    },
    args: {
      name: {
        type: "positional",
        required: true,
        description: 'project name ("default" holds envs created without --project)',
      },
      repo: { type: "string", description: "addons repository: file:///path, ssh://…, https://… or user@host:path" },
      branch: { type: "string", description: "default branch (main)" },
      "webhook-secret-file": {
        type: "string",
        description: "file holding the GitHub webhook secret (the same string as in the GitHub webhook settings)",
      },
      "remove-webhook-secret": {
        type: "boolean",
        description: "remove the webhook secret (GitHub deliveries are then refused)",
      },
    },
    async run({ args }) {
      const secretFile = args["webhook-secret-file"];
      if (secretFile !== undefined && args["remove-webhook-secret"])
        throw new Invalid("give --webhook-secret-file or --remove-webhook-secret, not both");
      const webhookSecret =
        secretFile !== undefined ? readSecretFile(secretFile) : args["remove-webhook-secret"] ? null : undefined;
      const p = await client(io).put("/projects/{name}", {
        params: { name: args.name },
        body: {
          ...(args.repo !== undefined ? { repoUrl: args.repo } : {}),
          ...(args.branch !== undefined ? { defaultBranch: args.branch } : {}),
          ...(webhookSecret !== undefined ? { webhookSecret } : {}),
        },
      });
      if (io.globals.json) return printJson(io, p);
      note(
        io,
        `project ${p.name}: ${p.repoUrl ?? "no repository"} (default branch ${p.defaultBranch}), webhook secret ${p.webhookSecretSet ? "set" : "not set"}`,
      );
    },
  });
  return defineCommand({
    meta: { name: "project", description: "Projects: the git repository environments deploy from" },
    subCommands: {
      list: defineCommand({
        meta: { name: "list", description: "Projects and their repositories" },
        async run() {
          const list = await client(io).get("/projects");
          if (io.globals.json) return printJson(io, list);
          printTable(
            io,
            list.map((p) => ({ ...p, webhook: p.webhookSecretSet ? "secret set" : "-" })),
            [
              { key: "name", label: "name" },
              { key: "repoUrl", label: "repository" },
              { key: "defaultBranch", label: "branch" },
              { key: "webhook", label: "webhook" },
            ],
          );
        },
      }),
      set,
      add: set,
      access: defineCommand({
        meta: {
          name: "access",
          description: "The user and password that open the project's non-production sites (admins only)",
        },
        args: { name: { type: "positional", required: true, description: "project name" } },
        async run({ args }) {
          const a = await client(io).get("/projects/{name}/access", { params: { name: args.name } });
          if (io.globals.json) return printJson(io, a);
          io.stdout(
            `user      ${a.user}\npassword  ${a.password}\ntiers     ${a.protectedTiers.join(", ") || "(none: every tier is public or allowlisted)"}\n`,
          );
        },
      }),
    },
  });
}
