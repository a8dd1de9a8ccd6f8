import { defineCommand } from "citty";
import type { CreatedToken, LoginResponse, TokenInfo, WhoAmI } from "../../auth/schema";
import { Invalid } from "../../errors";
import { ApiClient } from "../client";
import { DEFAULT_URL, readStoredLogin, removeStoredLogin, writeStoredLogin } from "../credentials";
import { client, type CliIo } from "../io";
import { note, printJson, printTable } from "../output";

async function ask(kind: "text" | "password", message: string): Promise<string> {
  const clack = await import("@clack/prompts");
  const value = kind === "text" ? await clack.text({ message }) : await clack.password({ message });
  if (clack.isCancel(value)) throw new Invalid("cancelled");
  return String(value);
}

export function authCommand(io: CliIo) {
  const login = defineCommand({
    meta: { name: "login", description: "Log in to a coordinator and store the session token (0600) under ~/.config/odooops" },
    args: {
      username: { type: "string", description: "user name (env ODOOOPS_USERNAME)" },
      "password-stdin": { type: "boolean", description: "read the password from stdin (else env ODOOOPS_PASSWORD, else a prompt on a TTY)" },
    },
    async run({ args }) {
      const url = io.globals.url ?? io.env.ODOOOPS_URL ?? readStoredLogin(io.env)?.url ?? DEFAULT_URL;
      let username = args.username ?? io.env.ODOOOPS_USERNAME;
      let password = args["password-stdin"] ? (await io.readStdin()).replace(/\r?\n$/, "") : io.env.ODOOOPS_PASSWORD;
      if (!username || !password) {
        if (!io.interactive) {
          throw new Invalid("not interactive: pass --username NAME and --password-stdin (or set ODOOOPS_USERNAME / ODOOOPS_PASSWORD)");
        }
        username ??= await ask("text", "Username");
        password ??= await ask("password", "Password");
      }
      const res = await new ApiClient(url, null, io.fetch).post<LoginResponse>("/auth/login", { username, password });
      const file = writeStoredLogin(io.env, { url, token: res.token, username: res.username, expiresAt: res.expiresAt });
      if (io.globals.json) printJson(io, { url, username: res.username, expiresAt: res.expiresAt, credentials: file });
      else note(io, `Logged in to ${url} as ${res.username} (session until ${res.expiresAt}); token stored in ${file}`);
    },
  });

  const logout = defineCommand({
    meta: { name: "logout", description: "Forget the stored session token" },
    run() {
      note(io, removeStoredLogin(io.env) ? "Logged out." : "Not logged in.");
    },
  });

  const whoami = defineCommand({
    meta: { name: "whoami", description: "Show who the CLI acts as, and where" },
    async run() {
      const c = client(io);
      const me = await c.get<WhoAmI>("/auth/whoami");
      if (io.globals.json) printJson(io, { ...me, url: c.baseUrl });
      else io.stdout(`${me.username} (${me.role}, via ${me.via}) at ${c.baseUrl}\n`);
    },
  });

  const token = defineCommand({
    meta: { name: "token", description: "Long-lived API tokens for scripts and CI" },
    subCommands: {
      create: defineCommand({
        meta: { name: "create", description: "Create a token (printed once)" },
        args: { name: { type: "positional", required: true }, "ttl-days": { type: "string", description: "expire after N days" } },
        async run({ args }) {
          const ttl = args["ttl-days"] === undefined ? undefined : Number(args["ttl-days"]);
          if (ttl !== undefined && (!Number.isInteger(ttl) || ttl <= 0)) throw new Invalid("--ttl-days must be a positive integer");
          const created = await client(io).post<CreatedToken>("/auth/tokens", { name: args.name, ttlDays: ttl });
          if (io.globals.json) printJson(io, created);
          else io.stdout(`${created.token}\n`);
        },
      }),
      list: defineCommand({
        meta: { name: "list", description: "List your tokens" },
        async run() {
          const list = await client(io).get<TokenInfo[]>("/auth/tokens");
          if (io.globals.json) printJson(io, list);
          else printTable(io, list, [
            { key: "id", label: "id" },
            { key: "name", label: "name" },
            { key: "kind", label: "kind" },
            { key: "createdAt", label: "created" },
            { key: "lastUsedAt", label: "last used" },
            { key: "revokedAt", label: "revoked" },
          ]);
        },
      }),
      revoke: defineCommand({
        meta: { name: "revoke", description: "Revoke a token by id" },
        args: { id: { type: "positional", required: true } },
        async run({ args }) {
          await client(io).delete(`/auth/tokens/${encodeURIComponent(args.id)}`);
          note(io, `Revoked ${args.id}`);
        },
      }),
    },
  });

  return defineCommand({
    meta: { name: "auth", description: "Log in, log out, API tokens" },
    subCommands: { login, logout, whoami, token },
  });
}
