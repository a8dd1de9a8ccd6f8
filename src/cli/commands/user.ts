import { defineCommand } from "citty";
import { ROLES, type Role } from "../../auth/roles";
import { randomSecret } from "../../auth/secretbox";
import { Invalid } from "../../errors";
import { confirmDestructive } from "../confirm";
import { client, type CliIo } from "../io";
import { note, printJson, printTable } from "../output";

function role(value: string): Role {
  if (!(ROLES as readonly string[]).includes(value))
    throw new Invalid(`role must be one of ${ROLES.join(", ")}, not ${JSON.stringify(value)}`);
  return value as Role;
}

/** The password from stdin, else a generated one that is printed once. */
async function passwordFrom(io: CliIo, fromStdin: boolean): Promise<{ password: string; generated: boolean }> {
  if (fromStdin) return { password: (await io.readStdin()).replace(/\r?\n$/, ""), generated: false };
  return { password: randomSecret(18), generated: true };
}

export function userCommand(io: CliIo) {
  const nameArg = { type: "positional", required: true, description: "user name" } as const;
  const stdinArg = {
    type: "boolean",
    description: "read the password from stdin (else one is generated and printed once)",
  } as const;

  const add = defineCommand({
    meta: { name: "add", description: "Add a user (admins)" },
    args: {
      name: nameArg,
      role: { type: "string", default: "member", description: "viewer, member or admin" },
      "password-stdin": stdinArg,
    },
    async run({ args }) {
      const { password, generated } = await passwordFrom(io, args["password-stdin"] === true);
      const user = await client(io).post("/users", { body: { username: args.name, password, role: role(args.role) } });
      if (io.globals.json) return printJson(io, { ...user, ...(generated ? { password } : {}) });
      note(io, `added ${user.username} (${user.role})`);
      if (generated) io.stdout(`${password}\n`);
    },
  });

  const list = defineCommand({
    meta: { name: "list", description: "Users, their roles, active sessions and tokens (admins)" },
    async run() {
      const users = await client(io).get("/users");
      if (io.globals.json) return printJson(io, users);
      printTable(io, users, [
        { key: "username", label: "user" },
        { key: "role", label: "role" },
        { key: "activeSessions", label: "sessions" },
        { key: "activeTokens", label: "tokens" },
        { key: "createdAt", label: "created" },
      ]);
    },
  });

  const setRole = defineCommand({
    meta: { name: "set-role", description: "Change a user's role (never the last admin's) (admins)" },
    args: { name: nameArg, role: { type: "positional", required: true, description: "viewer, member or admin" } },
    async run({ args }) {
      const user = await client(io).put("/users/{name}/role", {
        params: { name: args.name },
        body: { role: role(args.role) },
      });
      if (io.globals.json) return printJson(io, user);
      note(io, `${user.username} is now ${user.role}`);
    },
  });

  const passwd = defineCommand({
    meta: { name: "passwd", description: "Set a user's password; their sessions end (admins)" },
    args: { name: nameArg, "password-stdin": stdinArg },
    async run({ args }) {
      const { password, generated } = await passwordFrom(io, args["password-stdin"] === true);
      await client(io).put("/users/{name}/password", { params: { name: args.name }, body: { password } });
      note(io, `new password set for ${args.name}; their sessions are ended`);
      if (generated) io.stdout(`${password}\n`);
    },
  });

  const remove = defineCommand({
    meta: {
      name: "remove",
      description: "Remove a user with their sessions and API tokens (never the last admin) (admins)",
    },
    args: {
      name: nameArg,
      yes: { type: "boolean", alias: "y", description: "do not ask (required without a terminal)" },
    },
    async run({ args }) {
      await confirmDestructive(io, {
        yes: args.yes === true,
        what: `remove user ${args.name} and revoke their sessions and tokens`,
        flagHint: "--yes",
      });
      await client(io).delete("/users/{name}", { params: { name: args.name } });
      note(io, `removed ${args.name}`);
    },
  });

  return defineCommand({
    meta: { name: "user", description: "Users and their roles: add, list, set-role, passwd, remove (admins)" },
    subCommands: { add, list, "set-role": setRole, passwd, remove },
  });
}
