/**
 * A local stand-in for GitHub's REST API (hono on a free loopback port) that records every call
 * and answers like the documented endpoints odooops uses: commit statuses, issue comments
 * (create, edit), and the paginated open pull request list (`per_page`/`page`, `Link` header).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Hono } from "hono";

export interface GithubCall {
  method: string;
  path: string;
  query: Record<string, string>;
  auth: string | null;
  body: Record<string, unknown> | null;
  answered: number;
  /** Arrival, ms since the epoch (benchmarks time GitHub calls with it). */
  at: number;
}

export interface FakeComment {
  id: number;
  repo: string;
  pr: number;
  body: string;
}

export async function startFakeGithub() {
  const calls: GithubCall[] = [];
  /** HTTP codes to answer, in order, before normal answers (any endpoint); 0 = answer normally. */
  let script: number[] = [];
  const openPulls = new Map<string, number[]>();
  /** When set, the pull request list answers with this `Link: <…>; rel="next"` instead of its own. */
  let forcedNext: string | null = null;
  const comments = new Map<number, FakeComment>();
  let nextCommentId = 9000;
  const app = new Hono();
  const callOf = new WeakMap<Request, GithubCall>();
  const bodyOf = (req: Request) => String(callOf.get(req)?.body?.body ?? "");

  app.use(async (c, next) => {
    const at = Date.now();
    const scripted = script.shift();
    const text = c.req.method === "GET" ? "" : await c.req.text();
    const call: GithubCall = {
      method: c.req.method,
      path: c.req.path,
      query: c.req.query(),
      auth: c.req.header("authorization") ?? null,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : null,
      answered: 0,
      at,
    };
    calls.push(call);
    if (scripted !== undefined && scripted !== 0) {
      call.answered = scripted;
      return c.json({ message: "stand-in failure" }, scripted as 500);
    }
    callOf.set(c.req.raw, call);
    await next();
    call.answered = c.res.status;
  });

  app.post("/repos/:owner/:repo/statuses/:sha", (c) =>
    c.json({ id: calls.length, state: "recorded", context: "odooops/deployment" }, 201),
  );

  app.post("/repos/:owner/:repo/issues/:number/comments", (c) => {
    const comment = {
      id: nextCommentId++,
      repo: `${c.req.param("owner")}/${c.req.param("repo")}`,
      pr: Number(c.req.param("number")),
      body: bodyOf(c.req.raw),
    };
    comments.set(comment.id, comment);
    return c.json(
      {
        id: comment.id,
        body: comment.body,
        html_url: `https://github.com/${comment.repo}/pull/${comment.pr}#issuecomment-${comment.id}`,
      },
      201,
    );
  });

  app.patch("/repos/:owner/:repo/issues/comments/:id", (c) => {
    const comment = comments.get(Number(c.req.param("id")));
    if (!comment) return c.json({ message: "Not Found" }, 404);
    comment.body = bodyOf(c.req.raw);
    return c.json({ id: comment.id, body: comment.body }, 200);
  });

  app.get("/repos/:owner/:repo/pulls", (c) => {
    const repo = `${c.req.param("owner")}/${c.req.param("repo")}`;
    if (c.req.query("state") !== "open") return c.json({ message: "this stand-in answers state=open only" }, 422);
    const perPage = Math.min(Number(c.req.query("per_page") ?? 30), 100);
    const page = Number(c.req.query("page") ?? 1);
    const all = openPulls.get(repo) ?? [];
    const slice = all.slice((page - 1) * perPage, page * perPage);
    const base = new URL(c.req.url);
    if (forcedNext !== null) c.header("link", `<${forcedNext}>; rel="next"`);
    else if (page * perPage < all.length) {
      base.searchParams.set("page", String(page + 1));
      c.header("link", `<${base.toString()}>; rel="next"`);
    }
    return c.json(
      slice.map((number) => ({ number, state: "open" })),
      200,
    );
  });

  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch });
  const url = `http://127.0.0.1:${server.port}`;
  return {
    url,
    calls,
    comments,
    script(codes: number[]) {
      script = [...codes];
    },
    setOpenPulls(repo: string, numbers: number[]) {
      openPulls.set(repo, numbers);
    },
    forceNextLink(url: string | null) {
      forcedNext = url;
    },
    /** `github.*` config for a daemon using this stand-in: fast retries, a token file in `dir`. */
    config(dir: string, token = `ghp_test_${crypto.randomUUID().replace(/-/g, "")}`) {
      mkdirSync(dir, { recursive: true });
      const tokenFile = join(dir, "github-token");
      writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
      return { token, github: { apiUrl: url, tokenFile, retryBaseMs: 20, statusAttempts: 3 } };
    },
    async until(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
      const end = Date.now() + timeoutMs;
      while (!ok() && Date.now() < end) await Bun.sleep(20);
      if (!ok())
        throw new Error(
          `timed out waiting for ${what}; calls: ${JSON.stringify(calls.map((c) => [c.method, c.path, c.answered]))}`,
        );
    },
    stop: () => server.stop(true),
  };
}

export type FakeGithub = Awaited<ReturnType<typeof startFakeGithub>>;
