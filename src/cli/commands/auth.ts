import { defineCommand } from "citty";
import { ROLES, type Role } from "../../auth/roles";
import { AppError, Invalid, errorText } from "../../errors";
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
    meta: {
      name: "login",
      description: "Log in to a coordinator and store the session token (0600) under ~/.config/odooops",
    },
    args: {
      username: { type: "string", description: "user name (env ODOOOPS_USERNAME)" },
      "password-stdin": {
        type: "boolean",
        description: "read the password from stdin (else env ODOOOPS_PASSWORD, else a prompt on a TTY)",
      },
    },
    async run({ args }) {
      const url = io.globals.url ?? io.env.ODOOOPS_URL ?? readStoredLogin(io.env)?.url ?? DEFAULT_URL;
      let username = args.username ?? io.env.ODOOOPS_USERNAME;
      let password = args["password-stdin"] ? (await io.readStdin()).replace(/\r?\n$/, "") : io.env.ODOOOPS_PASSWORD;
      if (!username || !password) {
        if (!io.interactive) {
          throw new Invalid(
            "not interactive: pass --username NAME and --password-stdin (or set ODOOOPS_USERNAME / ODOOOPS_PASSWORD)",
          );
        }
        username ??= await ask("text", "Username");
        password ??= await ask("password", "Password");
      }
      const res = await new ApiClient(url, null, io.fetch).post("/auth/login", { body: { username, password } });
      const file = writeStoredLogin(io.env, {
        url,
        token: res.token,
        username: res.username,
        expiresAt: res.expiresAt,
      });
      if (io.globals.json) printJson(io, { url, username: res.username, expiresAt: res.expiresAt, credentials: file });
      else note(io, `Logged in to ${url} as ${res.username} (session until ${res.expiresAt}); token stored in ${file}`);
    },
  });

  const logout = defineCommand({
    meta: { name: "logout", description: "End the stored session on the server and forget its token" },
    async run() {
      const stored = readStoredLogin(io.env);
      if (!stored) return note(io, "Not logged in.");
      try {
        await new ApiClient(stored.url, stored.token, io.fetch).post("/auth/logout");
      } catch (e) {
        // An expired or already revoked session is over anyway; anything else is worth saying.
        if (!(e instanceof AppError && e.code === "unauthorized"))
          note(
            io,
            `warning: the server did not confirm the logout (${errorText(e)}); the local token is removed anyway`,
          );
      }
      removeStoredLogin(io.env);
      note(io, "Logged out.");
    },
  });

  const passwd = defineCommand({
    meta: { name: "passwd", description: "Change your password (your other sessions end)" },
    args: { stdin: { type: "boolean", description: "read the current and the new password as two lines from stdin" } },
    async run({ args }) {
      let current: string;
      let next: string;
      if (args.stdin) {
        const lines = (await io.readStdin()).split(/\r?\n/);
        current = lines[0] ?? "";
        next = lines[1] ?? "";
      } else if (io.interactive) {
        current = await ask("password", "Current password");
        next = await ask("password", "New password (at least 8 characters)");
        if ((await ask("password", "New password again")) !== next)
          throw new Invalid("the new passwords differ; nothing changed");
      } else throw new Invalid("not interactive: pass --stdin with the current and the new password as two lines");
      await client(io).post("/auth/password", { body: { current, new: next } });
      note(io, "Password changed; your other sessions are ended.");
    },
  });

  const sessions = defineCommand({
    meta: { name: "sessions", description: "Your login sessions" },
    subCommands: {
      list: defineCommand({
        meta: { name: "list", description: "List your sessions" },
        async run() {
          const list = await client(io).get("/auth/sessions");
          if (io.globals.json) return printJson(io, list);
          printTable(
            io,
            list.map((x) => ({ ...x, current: x.current ? "*" : "" })),
            [
              { key: "id", label: "id" },
              { key: "current", label: "current" },
              { key: "createdAt", label: "created" },
              { key: "lastUsedAt", label: "last used" },
              { key: "expiresAt", label: "expires" },
              { key: "revokedAt", label: "revoked" },
            ],
          );
        },
      }),
      revoke: defineCommand({
        meta: { name: "revoke", description: "End a session by id (admins: anyone's)" },
        args: { id: { type: "positional", required: true } },
        async run({ args }) {
          await client(io).delete("/auth/sessions/{id}", { params: { id: args.id } });
          note(io, `Ended session ${args.id}`);
        },
      }),
    },
  });

  const whoami = defineCommand({
    meta: { name: "whoami", description: "Show who the CLI acts as, and where" },
    async run() {
      const c = client(io);
      const me = await c.get("/auth/whoami");
      if (io.globals.json) printJson(io, { ...me, url: c.baseUrl });
      else io.stdout(`${me.username} (${me.role}, via ${me.via}) at ${c.baseUrl}\n`);
    },
  });

  const token = defineCommand({
    meta: { name: "token", description: "Long-lived API tokens for scripts and CI" },
    subCommands: {
      create: defineCommand({
        meta: { name: "create", description: "Create a token (printed once)" },
        args: {
          name: { type: "positional", required: true },
          "ttl-days": { type: "string", description: "expire after N days (default 90)" },
          role: { type: "string", description: "viewer, member or admin: at most your own role (default: your role)" },
        },
        async run({ args }) {
          const ttl = args["ttl-days"] === undefined ? undefined : Number(args["ttl-days"]);
          if (ttl !== undefined && (!Number.isInteger(ttl) || ttl <= 0))
            throw new Invalid("--ttl-days must be a positive integer");
          if (args.role !== undefined && !(ROLES as readonly string[]).includes(args.role))
            throw new Invalid(`--role must be one of ${ROLES.join(", ")}`);
          const created = await client(io).post("/auth/tokens", {
            body: { name: args.name, ttlDays: ttl, role: args.role as Role | undefined },
          });
          if (io.globals.json) printJson(io, created);
          else io.stdout(`${created.token}\n`);
        },
      }),
      list: defineCommand({
        meta: { name: "list", description: "List your tokens" },
        async run() {
          const list = await client(io).get("/auth/tokens");
          if (io.globals.json) printJson(io, list);
          else
            printTable(io, list, [
              { key: "id", label: "id" },
              { key: "name", label: "name" },
              { key: "kind", label: "kind" },
              { key: "role", label: "role" },
              { key: "createdAt", label: "created" },
              { key: "expiresAt", label: "expires" },
              { key: "lastUsedAt", label: "last used" },
              { key: "revokedAt", label: "revoked" },
            ]);
        },
      }),
      revoke: defineCommand({
        meta: { name: "revoke", description: "Revoke a token by id" },
        args: { id: { type: "positional", required: true } },
        async run({ args }) {
          await client(io).delete("/auth/tokens/{id}", { params: { id: args.id } });
          note(io, `Revoked ${args.id}`);
        },
      }),
    },
  });

  const rotateSigningKey = defineCommand({
    meta: {
      name: "rotate-signing-key",
      description:
        "A new secret for login sessions: every session ends (everyone logs in again); API tokens keep working (admin)",
    },
    async run() {
      const r = await client(io).post("/auth/signing-key/rotate");
      if (io.globals.json) return printJson(io, r);
      note(io, `New session signing key; ${r.sessionsEnded} session(s) ended. API tokens keep working.`);
    },
  });

  return defineCommand({
    meta: { name: "auth", description: "Log in, log out, your password, sessions and API tokens" },
    subCommands: { login, logout, whoami, passwd, sessions, token, "rotate-signing-key": rotateSigningKey },
  });
}
