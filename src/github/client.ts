/**
 * The one way odooops talks to GitHub's REST API: token from `github.tokenFile`, base URL from
 * `github.apiUrl` (GitHub Enterprise, or a test stand-in), retries with doubling delays on
 * network errors, 5xx and 429. Callers run it in the background: a GitHub outage costs a status
 * or a comment, never a job.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import type { Config } from "../config/schema";
import { Log, Secrets } from "../log";
import { COMMENT_MAX, publishable } from "./publish";
import { errorText } from "../errors";

const log = Log.create("github");
const REPO_NAME = /^[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+$/;
/** GitHub's maximum page size; fewer pages, fewer chances to hit a rate limit mid-sweep. */
const PER_PAGE = 100;
/** A runaway Link chain must not loop forever (10,000 open PRs is far beyond any real repo). */
const MAX_PAGES = 100;

export interface GithubDeps {
  config: Pick<Config, "github">;
  fetch?: typeof fetch;
}

export type GithubResult =
  | { ok: true; status: number; body: unknown; next: string | null }
  | { ok: false; problem: string };

const retryable = (status: number) => status >= 500 || status === 429;

export function validRepoName(repo: string): boolean {
  return REPO_NAME.test(repo);
}

function readToken(file: string): string | null {
  try {
    return readFileSync(file, "utf8").trim() || null;
  } catch (e) {
    log.warn("github token file unreadable; GitHub calls are off", {
      file,
      error: (e as NodeJS.ErrnoException).code ?? String(e),
    });
    return null;
  }
}

function parseJson(text: string): unknown {
  try {
    return text ? (JSON.parse(text) as unknown) : null;
  } catch {
    return null;
  }
}

/** `<https://…?page=2>; rel="next", <…>; rel="last"` → the next page's URL. */
function nextLink(header: string | null): string | null {
  if (!header) return null;
  for (const part of header.split(",")) {
    const m = /<([^>]+)>\s*;\s*rel="next"/.exec(part);
    if (m) return m[1];
  }
  return null;
}

export class GithubClient {
  private constructor(
    private readonly deps: GithubDeps,
    private readonly token: string,
  ) {}

  /** Null when no token is configured or readable: GitHub calls are off. */
  static fromConfig(deps: GithubDeps): GithubClient | null {
    if (!deps.config.github.tokenFile) return null;
    const token = readToken(deps.config.github.tokenFile);
    Secrets.add(token);
    return token ? new GithubClient(deps, token) : null;
  }

  url(path: string): string {
    return `${this.deps.config.github.apiUrl.replace(/\/+$/, "")}${path}`;
  }

  /**
   * A `Link` header is the answering server's word: only an address on the API's own origin is
   * followed, so a hostile or misconfigured answer cannot send the token anywhere else.
   */
  private onApiOrigin(url: string): boolean {
    try {
      return new URL(url).origin === new URL(this.deps.config.github.apiUrl).origin;
    } catch {
      return false;
    }
  }

  /** One call (path or absolute URL from a Link header), retried; never throws. */
  async request(method: "GET" | "POST" | "PATCH", pathOrUrl: string, body?: unknown): Promise<GithubResult> {
    const { statusAttempts, retryBaseMs } = this.deps.config.github;
    const url = pathOrUrl.startsWith("/") ? this.url(pathOrUrl) : pathOrUrl;
    if (!this.onApiOrigin(url)) {
      log.warn("GitHub call refused: the address is not on the API's origin", {
        method,
        url,
        apiUrl: this.deps.config.github.apiUrl,
      });
      return { ok: false, problem: `refused: ${url} is not on the API's origin` };
    }
    const headers = {
      authorization: `Bearer ${this.token}`,
      accept: "application/vnd.github+json",
      "x-github-api-version": "2022-11-28",
      "content-type": "application/json",
      "user-agent": "odooops",
    };
    let problem = "";
    for (let attempt = 1; attempt <= statusAttempts; attempt++) {
      try {
        const res = await (this.deps.fetch ?? fetch)(url, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(10_000),
        });
        const text = await res.text();
        // Done is done: a 2xx whose body is not JSON must not be retried into a duplicate.
        if (res.ok)
          return { ok: true, status: res.status, body: parseJson(text), next: nextLink(res.headers.get("link")) };
        problem = `HTTP ${res.status}`;
        if (!retryable(res.status)) {
          log.warn("GitHub refused the call", { method, url, problem });
          return { ok: false, problem };
        }
      } catch (e) {
        problem = errorText(e);
      }
      log.warn("GitHub call failed", { method, url, attempt, problem });
      if (attempt < statusAttempts) await Bun.sleep(retryBaseMs * 2 ** (attempt - 1));
    }
    return { ok: false, problem };
  }

  /** Every page of a list endpoint; null when any page failed (a partial list must not be acted on). */
  async list<T>(path: string, item: z.ZodType<T>): Promise<T[] | null> {
    const items: T[] = [];
    let next: string | null = `${path}${path.includes("?") ? "&" : "?"}per_page=${PER_PAGE}`;
    for (let page = 0; next && page < MAX_PAGES; page++) {
      const res = await this.request("GET", next);
      if (!res.ok) return null;
      const parsed = z.array(item).safeParse(res.body);
      if (!parsed.success) {
        log.warn("GitHub answered an unexpected list", { path, problem: parsed.error.issues[0]?.message });
        return null;
      }
      items.push(...parsed.data);
      next = res.next;
    }
    return next ? null : items;
  }
}

const PullNumber = z.object({ number: z.number().int().positive() });

/** Numbers of the repository's open pull requests; null when GitHub could not say. */
export async function openPullNumbers(client: GithubClient, repo: string): Promise<Set<number> | null> {
  const pulls = await client.list(`/repos/${repo}/pulls?state=open`, PullNumber);
  return pulls ? new Set(pulls.map((p) => p.number)) : null;
}

const Comment = z.object({ id: z.number().int().positive() });

/** Posts a new comment, or edits `commentId` in place; the comment's id, null when it failed. */
export async function upsertComment(
  client: GithubClient,
  repo: string,
  pr: number,
  commentId: number | null,
  text: string,
): Promise<number | null> {
  const body = publishable(text, COMMENT_MAX);
  let res =
    commentId === null ? null : await client.request("PATCH", `/repos/${repo}/issues/comments/${commentId}`, { body });
  // Someone deleted the comment: post a new one rather than go silent.
  if (res === null || (!res.ok && res.problem === "HTTP 404")) {
    commentId = null;
    res = await client.request("POST", `/repos/${repo}/issues/${pr}/comments`, { body });
  }
  if (!res.ok) return null;
  const parsed = Comment.safeParse(res.body);
  return parsed.success ? parsed.data.id : commentId;
}
