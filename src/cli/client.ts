/**
 * The CLI's only way to the daemon: HTTP to the API through one injectable `fetch` (tests pass
 * the in-process app, a remote transport can pass its own), typed by the server's route
 * definitions (./api.ts), errors turned back into the same typed errors the server raised (so
 * exit codes match), SSE for job progress, raw bodies for uploads and downloads.
 */
import { AppError, Conflict, Forbidden, Invalid, NotFound, Unauthorized, Unavailable, errorText } from "../errors";
import type { BodyOf, Method, ParamsOf, PathOf, QueryOf, ResponseOf } from "./api";

/** A boolean as the API's query flags spell it. */
export const flag = (b: boolean): "true" | "false" => (b ? "true" : "false");

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

/** A route's placeholders are required exactly when its path template has some. */
type ParamsArg<P extends string> = keyof ParamsOf<P> extends never ? { params?: undefined } : { params: ParamsOf<P> };
export type CallOptions<M extends Method, P extends string> = ParamsArg<P> & {
  query?: QueryOf<M, P>;
  body?: BodyOf<M, P>;
};
type Args<M extends Method, P extends string> = keyof ParamsOf<P> extends never
  ? [opts?: CallOptions<M, P>]
  : [opts: CallOptions<M, P>];
/** For routes whose body is a file, not JSON (db import): the body is sent as given. */
type RawArgs<P extends string> = ParamsArg<P> & { query?: Record<string, string>; body?: RequestInit["body"] };

/** What fills a path template: checked by the public methods' types, read loosely here. */
interface Target {
  params?: unknown;
  query?: unknown;
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string | null,
    private readonly fetchImpl: Fetch = (i, init) => fetch(i, init),
  ) {}

  /** `/jobs/{id}` with `{id}` filled in (encoded), under the API's base, plus the query. */
  private url(path: string, t: Target = {}): string {
    const filled = path.replace(/\{([^}]+)\}/g, (_, k: string) => {
      const v = (t.params as Record<string, string | undefined> | undefined)?.[k];
      if (v === undefined) throw new Invalid(`no value for {${k}} in ${path}`);
      return encodeURIComponent(v);
    });
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries((t.query ?? {}) as Record<string, unknown>))
      if (v !== undefined) q.set(k, String(v));
    const qs = q.size > 0 ? `?${q}` : "";
    return `${this.baseUrl.replace(/\/+$/, "")}/api/v1${filled}${qs}`;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  /** One request; a non-2xx answer becomes the typed error the server raised. */
  private async send(url: string, init: RequestInit): Promise<Response> {
    let res: Response;
    try {
      res = await this.fetchImpl(url, init);
    } catch (e) {
      if (init.signal?.aborted) throw e;
      throw new Unavailable(
        `cannot reach the odooops daemon at ${this.baseUrl}: ${errorText(e)}. Is \`odooops serve\` running? (--url / ODOOOPS_URL)`,
      );
    }
    if (!res.ok) {
      const text = await res.text();
      throw toError(res.status, safeJson(text), text);
    }
    return res;
  }

  private async json<T>(method: string, path: string, t: Target, body?: unknown): Promise<T> {
    const res = await this.send(this.url(path, t), {
      method,
      headers: this.headers(body === undefined ? {} : { "content-type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text ? safeJson(text) : undefined) as T;
  }

  get<P extends PathOf<"get">>(path: P, ...[opts]: Args<"get", P>): Promise<ResponseOf<"get", P>> {
    return this.json("GET", path, opts ?? {});
  }
  post<P extends PathOf<"post">>(path: P, ...[opts]: Args<"post", P>): Promise<ResponseOf<"post", P>> {
    return this.json("POST", path, opts ?? {}, opts?.body ?? {});
  }
  put<P extends PathOf<"put">>(path: P, ...[opts]: Args<"put", P>): Promise<ResponseOf<"put", P>> {
    return this.json("PUT", path, opts ?? {}, opts?.body ?? {});
  }
  delete<P extends PathOf<"delete">>(path: P, ...[opts]: Args<"delete", P>): Promise<ResponseOf<"delete", P>> {
    return this.json("DELETE", path, opts ?? {});
  }

  /** POSTs a file body (application/octet-stream) to a route that answers JSON. */
  async upload<P extends PathOf<"post">>(path: P, opts: RawArgs<P>): Promise<ResponseOf<"post", P>> {
    const res = await this.send(this.url(path, opts), {
      method: "POST",
      headers: this.headers({ "content-type": "application/octet-stream" }),
      body: opts.body,
    });
    return (await res.json()) as ResponseOf<"post", P>;
  }

  /** A route whose answer is a file (an export's zip): the response, its body unread. */
  download<P extends PathOf<"get">>(path: P, opts: RawArgs<P>): Promise<Response> {
    return this.send(this.url(path, opts), { method: "GET", headers: this.headers() });
  }

  /** A plain-text route as it arrives (logs -f), until the server ends it or `signal` aborts. */
  async *text<P extends PathOf<"get">>(
    path: P,
    opts: CallOptions<"get", P>,
    signal?: AbortSignal,
  ): AsyncGenerator<string> {
    const res = await this.send(this.url(path, opts), { headers: this.headers(), signal });
    if (!res.body) return;
    const decoder = new TextDecoder();
    for await (const chunk of res.body) yield decoder.decode(chunk, { stream: true });
  }

  /** Server-sent events of a route, parsed as JSON data lines, until the stream ends. */
  async *events<T>(path: PathOf<"get">, opts: Target, signal?: AbortSignal): AsyncGenerator<T> {
    const res = await this.send(this.url(path, opts), {
      headers: this.headers({ accept: "text/event-stream" }),
      signal,
    });
    if (!res.body) return;
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
