/** The GitHub REST client against the local stand-in: comment upsert, pagination, retries. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { z } from "zod";
import { ConfigSchema } from "../../src/config/schema";
import { GithubClient, openPullNumbers, upsertComment } from "../../src/github/client";
import { type FakeGithub, startFakeGithub } from "../support/github";
import { makeTempDir, removeTempDir } from "../support/tmp";

const REPO = "acme/addons";
let github: FakeGithub;
let client: GithubClient;
let dir = "";

beforeAll(async () => {
  github = await startFakeGithub();
  dir = makeTempDir("odooops-gh-client-");
  client = GithubClient.fromConfig({ config: ConfigSchema.parse({ github: github.config(dir).github }) })!;
});
afterAll(async () => {
  await github.stop();
  removeTempDir(dir);
});

test("no token file configured: no client", () => {
  expect(GithubClient.fromConfig({ config: ConfigSchema.parse({ github: { apiUrl: github.url } }) })).toBeNull();
});

test("a comment is created once, then edited in place; a comment deleted on GitHub is posted again", async () => {
  const id = await upsertComment(client, REPO, 3, null, "first");
  expect(id).toBeNumber();
  expect(await upsertComment(client, REPO, 3, id, "second")).toBe(id!);
  expect(github.comments.get(id!)!.body).toBe("second");
  github.comments.delete(id!);
  const again = await upsertComment(client, REPO, 3, id, "third");
  expect(again).not.toBe(id);
  expect(github.comments.get(again!)).toMatchObject({ repo: REPO, pr: 3, body: "third" });
});

test("lists follow the Link header over every page; one failed page makes the whole list unknown", async () => {
  github.setOpenPulls(
    REPO,
    Array.from({ length: 230 }, (_, i) => i + 1),
  );
  github.calls.length = 0;
  const open = await openPullNumbers(client, REPO);
  expect(open?.size).toBe(230);
  expect(github.calls.map((c) => c.query.page ?? "1")).toEqual(["1", "2", "3"]);
  github.calls.length = 0;
  // Page 1 answers, page 2 fails all three attempts.
  github.script([0, 500, 500, 500]);
  const failing = await client.list(`/repos/${REPO}/pulls?state=open`, z.object({ number: z.number() }));
  expect(failing).toBeNull();
  expect(github.calls.map((c) => [c.query.page ?? "1", c.answered])).toEqual([
    ["1", 200],
    ["2", 500],
    ["2", 500],
    ["2", 500],
  ]);
});

test("5xx and 429 are retried, other 4xx are not", async () => {
  github.calls.length = 0;
  github.script([429, 503]);
  expect((await client.request("POST", `/repos/${REPO}/statuses/${"a".repeat(40)}`, { state: "pending" })).ok).toBe(
    true,
  );
  expect(github.calls.map((c) => c.answered)).toEqual([429, 503, 201]);
  github.calls.length = 0;
  github.script([422]);
  expect(await client.request("POST", `/repos/${REPO}/statuses/${"a".repeat(40)}`, { state: "pending" })).toEqual({
    ok: false,
    problem: "HTTP 422",
  });
  expect(github.calls.length).toBe(1);
});

test("attack: a Link header pointing off the API's origin is never followed; the client refuses before connecting", async () => {
  // Every address the client asks for is recorded; a non-loopback one is refused here too, so the
  // test never reaches the network even when the client under test would follow the link.
  const asked: string[] = [];
  const guarded = ((input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    const url = input instanceof Request ? input.url : String(input);
    asked.push(url);
    if (new URL(url).hostname !== "127.0.0.1") return Promise.reject(new Error(`test guard: ${url} is not loopback`));
    return fetch(input, init);
  }) as typeof fetch;
  const guardedClient = GithubClient.fromConfig({
    config: ConfigSchema.parse({ github: github.config(dir).github }),
    fetch: guarded,
  })!;
  github.setOpenPulls("acme/linked", [1, 2, 3]);
  for (const evil of [
    "https://evil.example/repos/acme/linked/pulls?page=2",
    `http://127.0.0.1.evil.example:${new URL(github.url).port}/x`,
    "http://[::1]:1/x",
  ]) {
    github.forceNextLink(evil);
    asked.length = 0;
    github.calls.length = 0;
    // A list whose next page cannot be read is unknown, not short: nothing acts on a partial list.
    expect(await openPullNumbers(guardedClient, "acme/linked")).toBeNull();
    expect(asked).toHaveLength(1);
    expect(asked[0]).toStartWith(`${github.url}/repos/acme/linked/pulls`);
    expect(github.calls).toHaveLength(1);
  }
  github.forceNextLink(null);
  expect(await guardedClient.request("GET", "https://evil.example/user")).toMatchObject({ ok: false });
  expect(asked).toHaveLength(1);
});
