/** An in-process API on a temp root: real SQLite state, real auth, `app.request` calls. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../../src/api/app";
import { resolvePaths } from "../../src/config/paths";
import { type Config, ConfigSchema } from "../../src/config/schema";
import { buildServices } from "../../src/daemon/services";
import type { AnyJobDef } from "../../src/jobs/define";
import { openState } from "../../src/state/db";

export const ADMIN_PASSWORD = "correct-horse-battery";

export async function makeTestApi(opts: { extraJobs?: AnyJobDef[]; root?: string; config?: Config } = {}) {
  const root = opts.root ?? mkdtempSync(join(tmpdir(), "odooops-api-"));
  const paths = resolvePaths(root);
  const config = opts.config ?? ConfigSchema.parse({});
  const db = openState(paths.stateDb);
  const deps = buildServices({ db, config, paths, hostId: null, extraJobs: opts.extraJobs });
  const auth = deps.auth;
  await auth.bootstrapAdmin(paths.adminPasswordFile, ADMIN_PASSWORD);
  const app = createApp(deps);
  let { token } = await auth.login("admin", ADMIN_PASSWORD);
  async function request(path: string, init: RequestInit & { token?: string | null } = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const t = init.token === undefined ? token : init.token;
    if (t) headers.set("authorization", `Bearer ${t}`);
    if (init.body && !headers.has("content-type")) headers.set("content-type", "application/json");
    return app.request(path, { ...init, headers });
  }
  return {
    root,
    deps,
    app,
    get token() {
      return token;
    },
    /** A new admin session as the default token (after a test ended every session). */
    async relogin() {
      token = (await auth.login("admin", ADMIN_PASSWORD)).token;
    },
    request,
    /** A login session through the API itself (`POST /auth/login`): its token. */
    async login(username: string, password: string): Promise<string> {
      const res = await request("/api/v1/auth/login", {
        method: "POST",
        token: null,
        body: JSON.stringify({ username, password }),
      });
      if (res.status !== 200) throw new Error(`login as ${username} answered ${res.status}: ${await res.text()}`);
      return ((await res.json()) as { token: string }).token;
    },
    /** The CLI's fetch, answered by this app in-process. */
    fetch: async (url: string, init?: RequestInit): Promise<Response> => app.request(url, init),
    cleanup() {
      db.$client.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
