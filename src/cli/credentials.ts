/**
 * Where the CLI's URL and token come from, first match wins:
 * flag/env (ODOOOPS_URL, ODOOOPS_TOKEN) → stored login (~/.config/odooops/credentials.json, 0600)
 * → the coordinator host's local token file (root / odooops group) and its configured listen address.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { resolvePaths } from "../config/paths";

export interface StoredLogin {
  url: string;
  token: string;
  username: string;
  expiresAt: string | null;
}

export const DEFAULT_URL = "http://127.0.0.1:8420";

export function credentialsFile(env: Record<string, string | undefined>): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
  return join(base, "odooops", "credentials.json");
}

export function readStoredLogin(env: Record<string, string | undefined>): StoredLogin | null {
  const file = credentialsFile(env);
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as StoredLogin;
  } catch {
    return null;
  }
}

export function writeStoredLogin(env: Record<string, string | undefined>, login: StoredLogin): string {
  const file = credentialsFile(env);
  mkdirSync(join(file, ".."), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

export function removeStoredLogin(env: Record<string, string | undefined>): boolean {
  const file = credentialsFile(env);
  if (!existsSync(file)) return false;
  rmSync(file);
  return true;
}

/** The local daemon's URL and token when this user can read them (coordinator host). */
export function readLocalCredential(root: string | undefined): { url: string; token: string | null } | null {
  const paths = resolvePaths(root);
  let url = DEFAULT_URL;
  try {
    // Written by the daemon at every start (its real listen address), removed at stop.
    url = readFileSync(paths.daemonUrlFile, "utf8").trim() || DEFAULT_URL;
  } catch {
    // No daemon running here (or not readable): the default address is still worth a try.
  }
  return { url, token: readToken(paths.localTokenFile) };
}

function readToken(file: string): string | null {
  try {
    return readFileSync(file, "utf8").trim() || null;
  } catch {
    return null;
  }
}

export function resolveCredentials(
  globals: { url?: string; root?: string },
  env: Record<string, string | undefined>,
): { url: string; token: string | null; source: string } {
  const stored = readStoredLogin(env);
  const root = globals.root ?? env.ODOOOPS_ROOT;
  const explicitUrl = globals.url ?? env.ODOOOPS_URL;
  const local = !explicitUrl && (root || !stored) ? readLocalCredential(root) : null;
  const url = explicitUrl ?? (local?.token ? local.url : undefined) ?? stored?.url ?? local?.url ?? DEFAULT_URL;
  if (env.ODOOOPS_TOKEN) return { url, token: env.ODOOOPS_TOKEN, source: "ODOOOPS_TOKEN" };
  if (local?.token && local.url === url) return { url, token: local.token, source: "local token" };
  if (stored && stored.url === url) return { url, token: stored.token, source: `login as ${stored.username}` };
  return { url, token: null, source: "none" };
}
