/**
 * The CLI's only way to the daemon: HTTP to the API, errors turned back into the same typed
 * errors the server raised (so exit codes match), SSE for job progress.
 */
import { AppError, Conflict, Forbidden, Invalid, NotFound, Unauthorized, Unavailable } from "../errors";

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string | null,
    private readonly fetchImpl: Fetch = (i, init) => fetch(i, init),
  ) {}

  private url(path: string) {
    return `${this.baseUrl.replace(/\/+$/, "")}/api/v1${path}`;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await this.fetchImpl(this.url(path), {
        method,
        headers: this.headers(body === undefined ? {} : { "content-type": "application/json" }),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new Unavailable(
        `cannot reach the odooops daemon at ${this.baseUrl}: ${(e as Error).message}. Is \`odooops serve\` running? (--url / ODOOOPS_URL)`,
      );
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    const data = text ? safeJson(text) : undefined;
    if (!res.ok) throw toError(res.status, data, text);
    return data as T;
  }

  get<T>(path: string) {
    return this.request<T>("GET", path);
  }
  post<T>(path: string, body: unknown = {}) {
    return this.request<T>("POST", path, body);
  }
  put<T>(path: string, body: unknown) {
    return this.request<T>("PUT", path, body);
  }
  delete<T>(path: string) {
    return this.request<T>("DELETE", path);
  }

  /** A plain-text route as it arrives (logs -f), until the server ends it or `signal` aborts. */
  async *text(path: string, signal?: AbortSignal): AsyncGenerator<string> {
    const res = await this.fetchImpl(this.url(path), { headers: this.headers(), signal });
    if (!res.ok || !res.body) throw toError(res.status, safeJson(await res.text()), "");
    const decoder = new TextDecoder();
    for await (const chunk of res.body) yield decoder.decode(chunk, { stream: true });
  }

  /** Server-sent events of a route, parsed as JSON data lines, until the stream ends. */
  async *events<T>(path: string, signal?: AbortSignal): AsyncGenerator<T> {
    const res = await this.fetchImpl(this.url(path), {
      headers: this.headers({ accept: "text/event-stream" }),
      signal,
    });
    if (!res.ok || !res.body) throw toError(res.status, safeJson(await res.text()), "");
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of res.body) {
      buf += decoder.decode(chunk, { stream: true });
      let i = buf.indexOf("\n\n");
      while (i >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = frame
          .split("\n")
          .filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).trimStart())
          .join("\n");
        if (data) yield JSON.parse(data) as T;
        i = buf.indexOf("\n\n");
      }
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function toError(status: number, data: unknown, text: string): AppError {
  const err = (data as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
  const message = err?.message ?? (text.slice(0, 200) || `HTTP ${status}`);
  const details = err?.details;
  switch (status) {
    case 400:
    case 413:
      return new Invalid(message, details);
    case 401:
      return new Unauthorized(message, details);
    case 403:
      return new Forbidden(message, details);
    case 404:
      return new NotFound(message, details);
    case 409:
      return new Conflict(message, details);
    case 503:
      return new Unavailable(message, details);
    default:
      return new AppError(message, details);
  }
}
