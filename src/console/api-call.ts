/**
 * The console acts only through the API, in process: the same routes, zod validation, permission
 * table, domain functions and audit rows as `odooops …` and curl. The browser's session bearer
 * goes along as the Authorization header, and the audit/throttle see the browser's own address.
 */
import type { Context } from "hono";
import { API_BASE } from "../api/app";

export interface ApiFetch {
  fetch(req: Request, env?: unknown): Response | Promise<Response>;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** What the API's audit middleware reads from its env: the peer of the browser's request. */
function peerOf(c: Context) {
  const server = c.env as { requestIP?: (r: Request) => { address: string } | null } | undefined;
  const info = typeof server?.requestIP === "function" ? server.requestIP(c.req.raw) : null;
  return { requestIP: () => info, timeout: () => {} };
}

export function apiRequest(
  c: Context,
  bearer: string | null,
  method: string,
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Request {
  const headers = new Headers();
  if (bearer) headers.set("authorization", `Bearer ${bearer}`);
  const forwarded = c.req.header("x-forwarded-for");
  if (forwarded) headers.set("x-forwarded-for", forwarded);
  if (body !== undefined) headers.set("content-type", "application/json");
  return new Request(`http://console.invalid${API_BASE}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
}

async function failure(res: Response): Promise<ApiError> {
  const text = await res.text();
  const parsed: unknown = text ? JSON.parse(text) : null;
  const err = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
  return new ApiError(res.status, err?.code ?? "http_error", err?.message ?? `HTTP ${res.status}`);
}

/** A streaming answer (logs, job events) as the API sends it; a refusal is an ApiError as for callApi. */
export async function openApiStream(
  api: ApiFetch,
  c: Context,
  bearer: string,
  path: string,
  signal: AbortSignal,
): Promise<ReadableStream<Uint8Array>> {
  const res = await api.fetch(apiRequest(c, bearer, "GET", path, undefined, signal), peerOf(c));
  if (!res.ok) throw await failure(res);
  if (!res.body) throw new ApiError(500, "internal", `the API answered ${path} without a body`);
  return res.body;
}

/** The parsed JSON answer, or an ApiError carrying the API's own code and message. */
export async function callApi<T>(
  api: ApiFetch,
  c: Context,
  bearer: string | null,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await api.fetch(apiRequest(c, bearer, method, path, body), peerOf(c));
  if (!res.ok) throw await failure(res);
  const text = await res.text();
  return (text ? JSON.parse(text) : null) as T;
}
