/** Drives the console like a browser does: cookies, the login nonce, forms with their CSRF token. */
import { withConsole } from "../../src/console/app";
import type { CoordinatorDeps } from "../../src/deps";
import type { ApiFetch } from "../../src/console/api-call";

export type Fetcher = (req: Request) => Response | Promise<Response>;

export function consoleFetcher(deps: CoordinatorDeps, api: ApiFetch): Fetcher {
  const f = withConsole(deps, api);
  return (req) => f(req);
}

export function cookieValue(res: Response, name: string): string | null {
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(";");
    const [k, v] = (pair ?? "").split("=");
    if (k === name) return v ?? "";
  }
  return null;
}

export function csrfOf(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m?.[1]) throw new Error("no CSRF field on the page");
  return m[1];
}

export class Browser {
  cookies = new Map<string, string>();
  constructor(
    private readonly fetcher: Fetcher,
    private readonly origin = "http://127.0.0.1",
  ) {}

  async request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set("cookie", [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "));
    const res = await this.fetcher(new Request(`${this.origin}${path}`, { ...init, headers, redirect: "manual" }));
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(";");
      const [k, v] = (pair ?? "").split("=");
      if (!k) continue;
      if (attrs.some((a) => a.trim().toLowerCase() === "max-age=0")) this.cookies.delete(k);
      else this.cookies.set(k, v ?? "");
    }
    return res;
  }

  post(path: string, form: Record<string, string>): Promise<Response> {
    return this.request(path, {
      method: "POST",
      body: new URLSearchParams(form),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
  }

  async login(username: string, password: string): Promise<Response> {
    const page = await (await this.request("/login")).text();
    return this.post("/login", { _csrf: csrfOf(page), username, password });
  }

  /** The CSRF token of a page this session can see. */
  async csrf(path = "/"): Promise<string> {
    return csrfOf(await (await this.request(path)).text());
  }
}
