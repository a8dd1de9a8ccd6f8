import type { Context, Hono } from "hono";
import type { CoordinatorDeps } from "../deps";
import type { ApiFetch } from "./api-call";
import { callApi } from "./api-call";
import type { ConsoleSession, sessionCookies } from "./session";

export type ConsoleEnv = { Variables: { session: ConsoleSession | null } };
export type ConsoleApp = Hono<ConsoleEnv>;
export type ConsoleCtx = Context<ConsoleEnv>;

export interface ConsoleDeps {
  deps: CoordinatorDeps;
  api: ApiFetch;
  cookies: ReturnType<typeof sessionCookies>;
}

/** The signed-in session; the auth middleware (app.ts) has already sent everyone else to /login. */
export function sessionOf(c: ConsoleCtx): ConsoleSession {
  const s = c.get("session");
  if (!s) throw new Error("console route reached without a session");
  return s;
}

/** The API as the signed-in user. */
export function asUser<T>(cd: ConsoleDeps, c: ConsoleCtx, method: string, path: string, body?: unknown): Promise<T> {
  return callApi<T>(cd.api, c, sessionOf(c).bearer, method, path, body);
}
