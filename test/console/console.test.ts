/**
 * The console in process (real SQLite state, real auth, the real API behind it): session cookie,
 * CSRF, security headers, role-based rendering, and that the server refuses what a role may not
 * do even when the form is forged. Each refused request is shown to change nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ASSET_HASH, acceptsGzip, assetFor, assetUrl, gzipped } from "../../src/console/assets";
import { CONTENT_SECURITY_POLICY, csrfToken, csrfValid, nonceMatches } from "../../src/console/security";
import { auditLogs } from "../../src/audit/audit.sql";
import { sessions } from "../../src/auth/auth.sql";
import { environments } from "../../src/env/env.sql";
import { hosts } from "../../src/fleet/fleet.sql";
import { ensureLocalHost } from "../../src/fleet/hosts";
import { jobs } from "../../src/jobs/jobs.sql";
import { ADMIN_PASSWORD, makeTestApi } from "../support/api";
import { Browser, consoleFetcher, cookieValue, type Fetcher } from "./support";

let t: Awaited<ReturnType<typeof makeTestApi>>;
let fetcher: Fetcher;
const PW = { viewer: "viewer-password-long", member: "member-password-long" };

beforeAll(async () => {
  t = await makeTestApi();
  fetcher = consoleFetcher(t.deps, t.app);
  await t.deps.auth.createUser("vera", PW.viewer, "viewer");
  await t.deps.auth.createUser("mona", PW.member, "member");
});
afterAll(() => t.cleanup());

const FILE_TEXT = (name: string) => readFileSync(join(import.meta.dir, "../../src/console/assets", name), "utf8");
const jobCount = () => t.deps.db.select().from(jobs).all().length;
const envCount = () => t.deps.db.select().from(environments).all().length;

describe("CSRF token", () => {
  test("is per session, verified in constant time, and refuses anything else", () => {
    const a = csrfToken("session-a");
    expect(a).toBe(csrfToken("session-a"));
    expect(a).not.toBe(csrfToken("session-b"));
    expect(csrfValid("session-a", a)).toBe(true);
    expect(csrfValid("session-b", a)).toBe(false);
    expect(csrfValid("session-a", `${a}x`)).toBe(false);
    expect(csrfValid("session-a", "")).toBe(false);
    expect(csrfValid("session-a", undefined)).toBe(false);
    expect(nonceMatches("n0nce", "n0nce")).toBe(true);
    expect(nonceMatches("n0nce", "n0ncf")).toBe(false);
    expect(nonceMatches(undefined, "")).toBe(false);
  });
});

describe("headers and assets", () => {
  test("every page carries the strict CSP and friends, and is not cached", async () => {
    const res = await new Browser(fetcher).request("/login");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toBe(CONTENT_SECURITY_POLICY);
    for (const d of [
      "default-src 'self'",
      "script-src 'self'",
      "object-src 'none'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
      "form-action 'self'",
    ])
      expect(CONTENT_SECURITY_POLICY).toContain(d);
    expect(CONTENT_SECURITY_POLICY).not.toContain("unsafe");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    expect(res.headers.get("cache-control")).toBe("no-store");
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)/);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/);
  });

  test("assets are served under their hash with a long cache; an old hash is a 404", async () => {
    const b = new Browser(fetcher);
    const css = await b.request(assetUrl("console.css"));
    expect(css.status).toBe(200);
    expect(css.headers.get("content-type")).toContain("text/css");
    expect(css.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    const js = await b.request(assetUrl("htmx.min.js"));
    expect(js.headers.get("content-type")).toContain("javascript");
    expect((await js.text()).length).toBeGreaterThan(10_000);
    const gz = await b.request(assetUrl("htmx.min.js"), { headers: { "accept-encoding": "gzip" } });
    expect(gz.headers.get("content-encoding")).toBe("gzip");
    const packed = new Uint8Array(await gz.arrayBuffer());
    expect(packed.length).toBeLessThan(25_000);
    expect(new TextDecoder().decode(Bun.gunzipSync(packed))).toBe(
      await (await b.request(assetUrl("htmx.min.js"))).text(),
    );
    expect((await b.request(`/assets/000000000000/console.css`)).status).toBe(404);
    expect((await b.request(`/assets/${ASSET_HASH}/missing.js`)).status).toBe(404);
  });

  test("an asset is gzipped once and kept; a client refusing gzip gets the plain file", async () => {
    const b = new Browser(fetcher);
    const css = FILE_TEXT("console.css");
    const first = await b.request(assetUrl("console.css"), { headers: { "accept-encoding": "br, gzip;q=0.8" } });
    expect(first.headers.get("content-encoding")).toBe("gzip");
    expect(first.headers.get("vary")).toContain("accept-encoding");
    expect(new TextDecoder().decode(Bun.gunzipSync(new Uint8Array(await first.arrayBuffer())))).toBe(css);
    const asset = assetFor(ASSET_HASH, "console.css");
    if (!asset) throw new Error("console.css is not an asset");
    expect(gzipped(asset)).toBe(gzipped(asset));
    for (const refuses of ["gzip;q=0", "identity", "br", "*;q=0", ""]) {
      const res = await b.request(assetUrl("console.css"), { headers: { "accept-encoding": refuses } });
      expect(res.headers.get("content-encoding")).toBeNull();
      expect(await res.text()).toBe(css);
    }
    expect([" GZIP ", "*", "deflate, *;q=0.1", "gzip;q=1.0"].map(acceptsGzip)).toEqual([true, true, true, true]);
    expect(["gzip;q=0", "gzip;q=0.000", "gzip;q=x", "*;q=0, deflate", undefined].map(acceptsGzip)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
  });

  test("/api/v1 stays the API", async () => {
    const res = await fetcher(new Request("http://127.0.0.1/api/v1/health"));
    expect(res.headers.get("content-type")).toContain("application/json");
    expect((await fetcher(new Request("http://127.0.0.1/api/v1/environments"))).status).toBe(401);
  });
});

describe("login and session cookie", () => {
  test("without a session pages send you to the login", async () => {
    const res = await new Browser(fetcher).request("/");
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/login");
  });

  test("the cookie is HttpOnly, SameSite=Strict, not Secure over http, and names a server-side session", async () => {
    const b = new Browser(fetcher);
    const res = await b.login("admin", ADMIN_PASSWORD);
    expect(res.status).toBe(303);
    const set = res.headers.getSetCookie().find((c) => c.startsWith("odooops_session="));
    expect(set).toBeDefined();
    expect(set).toContain("HttpOnly");
    expect(set).toContain("SameSite=Strict");
    expect(set).toContain("Path=/");
    expect(set).not.toContain("Secure");
    const home = await b.request("/");
    expect(home.status).toBe(200);
    expect(await home.text()).toContain("No environment yet");
  });

  test("over HTTPS the cookie is Secure", async () => {
    const b = new Browser(fetcher, "https://console.example");
    const res = await b.login("admin", ADMIN_PASSWORD);
    expect(res.status).toBe(303);
    expect(res.headers.getSetCookie().find((c) => c.startsWith("odooops_session="))).toContain("Secure");
  });

  test("a wrong password shows the API's words, sets no session and is audited", async () => {
    const b = new Browser(fetcher);
    const res = await b.login("admin", "not-the-password");
    expect(res.status).toBe(401);
    expect(await res.text()).toContain("invalid username or password");
    expect(cookieValue(res, "odooops_session")).toBeNull();
    t.deps.audit.flush();
    const denied = t.deps.db.select().from(auditLogs).where(eq(auditLogs.action, "auth.login")).all();
    expect(denied.some((r) => r.outcome === "denied")).toBe(true);
  });

  test("a login form without the nonce of its cookie is refused (login CSRF)", async () => {
    const b = new Browser(fetcher);
    await b.request("/login");
    const before = t.deps.db.select().from(sessions).all().length;
    const res = await b.post("/login", { _csrf: "forged", username: "admin", password: ADMIN_PASSWORD });
    expect(res.status).toBe(403);
    expect(cookieValue(res, "odooops_session")).toBeNull();
    expect(t.deps.db.select().from(sessions).all().length).toBe(before);
  });

  test("logout revokes the session on the server: the old cookie opens nothing", async () => {
    const b = new Browser(fetcher);
    await b.login("admin", ADMIN_PASSWORD);
    const stolen = b.cookies.get("odooops_session") as string;
    const res = await b.post("/logout", { _csrf: await b.csrf() });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/login");
    const replay = new Browser(fetcher);
    replay.cookies.set("odooops_session", stolen);
    expect((await replay.request("/")).status).toBe(303);
  });

  test("an API token in the cookie is not a console login", async () => {
    const { token } = t.deps.auth.createApiToken(await t.deps.auth.authenticate(t.token), "cookie-test");
    const b = new Browser(fetcher);
    b.cookies.set("odooops_session", token);
    expect((await b.request("/")).status).toBe(303);
  });
});

describe("CSRF on every state change", () => {
  test("a POST without or with a wrong token is refused and changes nothing", async () => {
    const b = new Browser(fetcher);
    await b.login("admin", ADMIN_PASSWORD);
    const [jobsBefore, envsBefore] = [jobCount(), envCount()];
    const missing = await b.post("/envs", { name: "csrf-none", tier: "dev" });
    expect(missing.status).toBe(403);
    expect(await missing.text()).toContain("CSRF");
    const other = new Browser(fetcher);
    await other.login("mona", PW.member);
    const wrong = await b.post("/envs", { name: "csrf-wrong", tier: "dev", _csrf: await other.csrf() });
    expect(wrong.status).toBe(403);
    expect((await b.post("/logout", { _csrf: "x" })).status).toBe(403);
    expect([jobCount(), envCount()]).toEqual([jobsBefore, envsBefore]);
    // still logged in: the refused logout did nothing
    expect((await b.request("/")).status).toBe(200);
  });

  test("without a session a POST is refused before anything runs", async () => {
    const res = await new Browser(fetcher).post("/envs", { name: "anon", tier: "dev", _csrf: "x" });
    expect(res.status).toBe(401);
  });
});

describe("roles decide: what is drawn and what the server does", () => {
  let envSlug = "";

  test("an admin creates an env through the form: the API's domain function, job and audit", async () => {
    const b = new Browser(fetcher);
    await b.login("admin", ADMIN_PASSWORD);
    const res = await b.post("/envs", { name: "shop-dev", tier: "dev", _csrf: await b.csrf("/envs/new") });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toMatch(/^\/envs\/shop-dev\?job=/);
    envSlug = "shop-dev";
    const page = await (await b.request(res.headers.get("location") as string)).text();
    expect(page).toContain("env.create");
    expect(page).toContain('hx-trigger="every 1s"');
    t.deps.audit.flush();
    const rows = t.deps.db.select().from(auditLogs).all();
    expect(rows.some((r) => r.actor === "admin" && r.action === "env.create")).toBe(true);
    const list = await (await b.request("/")).text();
    expect(list).toContain('href="/envs/shop-dev"');
    expect(list).toContain("creating");
  });

  test("bad input is refused in the API's words and creates nothing", async () => {
    const b = new Browser(fetcher);
    await b.login("admin", ADMIN_PASSWORD);
    const csrf = await b.csrf("/envs/new");
    const before = envCount();
    const res = await b.post("/envs", { name: "x", tier: "galaxy", _csrf: csrf });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('class="error"');
    const blank = await b.post("/envs", { name: "   ", tier: "dev", _csrf: csrf });
    expect(blank.status).toBe(400);
    expect(envCount()).toBe(before);
  });

  test("a viewer sees no mutating control", async () => {
    const b = new Browser(fetcher);
    await b.login("vera", PW.viewer);
    const list = await (await b.request("/")).text();
    expect(list).toContain("shop-dev");
    expect(list).not.toContain("Create environment");
    expect(list).not.toContain('href="/audit"');
    const env = await (await b.request(`/envs/${envSlug}`)).text();
    expect(env).not.toContain("Back up now");
    // The only form a viewer gets is their own logout.
    expect([...env.matchAll(/<form[^>]*method="post"[^>]*action="([^"]+)"/g)].map((m) => m[1])).toEqual(["/logout"]);
    const member = new Browser(fetcher);
    await member.login("mona", PW.member);
    expect(await (await member.request(`/envs/${envSlug}`)).text()).toContain("Back up now");
  });

  test("a viewer's forged POST with a valid CSRF token is refused 403 by the permission table", async () => {
    const b = new Browser(fetcher);
    await b.login("vera", PW.viewer);
    const csrf = await b.csrf();
    const [jobsBefore, envsBefore] = [jobCount(), envCount()];
    const backup = await b.post(`/envs/${envSlug}/backups`, { _csrf: csrf });
    expect(backup.status).toBe(403);
    expect(await backup.text()).toContain("only member users may back up environments");
    const create = await b.post("/envs", { name: "viewer-env", tier: "dev", _csrf: csrf });
    expect(create.status).toBe(403);
    expect([jobCount(), envCount()]).toEqual([jobsBefore, envsBefore]);
    t.deps.audit.flush();
    const denied = t.deps.db.select().from(auditLogs).where(eq(auditLogs.actor, "vera")).all();
    expect(denied.some((r) => r.action === "auth.forbidden")).toBe(true);
  });

  test("a viewer asking for the audit log gets the API's refusal", async () => {
    const b = new Browser(fetcher);
    await b.login("vera", PW.viewer);
    const res = await b.request("/audit");
    expect(res.status).toBe(403);
    expect(await res.text()).toContain("only admin users may read the audit log");
  });

  test("a member is not offered the production tier, and the API refuses it anyway", async () => {
    const b = new Browser(fetcher);
    await b.login("mona", PW.member);
    const form = await (await b.request("/envs/new")).text();
    expect(form).not.toContain('value="production"');
    const before = envCount();
    const res = await b.post("/envs", { name: "shop-prod", tier: "production", _csrf: await b.csrf() });
    expect(res.status).toBe(403);
    expect(envCount()).toBe(before);
  });

  test("the audit page filters through the API", async () => {
    const b = new Browser(fetcher);
    await b.login("admin", ADMIN_PASSWORD);
    const all = await (await b.request("/audit")).text();
    expect(all).toContain("env.create");
    const filtered = await (await b.request("/audit?filter=failed_auth")).text();
    expect(filtered).not.toContain("<td>env.create</td>");
    expect(filtered).toContain("auth.login");
    const bad = await b.request("/audit?since=yesterday-ish");
    expect(bad.status).toBe(400);
  });

  test("jobs list and a job page with steps; a missing env is a 404 page", async () => {
    const b = new Browser(fetcher);
    await b.login("vera", PW.viewer);
    const list = await (await b.request("/jobs")).text();
    const id = /href="\/jobs\/([^"]+)">env\.create/.exec(list)?.[1];
    expect(id).toBeDefined();
    const job = await (await b.request(`/jobs/${id}`)).text();
    expect(job).toContain('<ol class="steps">');
    expect((await b.request("/envs/no-such-env")).status).toBe(404);
  });
});

describe("hosts and job control", () => {
  test("hosts: everyone sees them, only an admin drains; a viewer's forged drain changes nothing", async () => {
    ensureLocalHost(t.deps.db, "console-host", "standalone");
    const draining = () => t.deps.db.select().from(hosts).where(eq(hosts.name, "console-host")).get()?.draining;
    const viewer = new Browser(fetcher);
    await viewer.login("vera", PW.viewer);
    const seen = await (await viewer.request("/hosts")).text();
    expect(seen).toContain("console-host");
    expect(seen).not.toContain("Drain");
    const forged = await viewer.post("/hosts/console-host/draining", { draining: "true", _csrf: await viewer.csrf() });
    expect(forged.status).toBe(403);
    expect(draining()).toBe(false);

    const admin = new Browser(fetcher);
    await admin.login("admin", ADMIN_PASSWORD);
    const page = await (await admin.request("/hosts")).text();
    expect(page).toContain(">Drain</button>");
    const res = await admin.post("/hosts/console-host/draining", { draining: "true", _csrf: await admin.csrf() });
    expect(res.status).toBe(303);
    expect(draining()).toBe(true);
    expect(await (await admin.request("/hosts")).text()).toContain("Resume placements");
    expect(
      (await admin.post("/hosts/no-such-host/draining", { draining: "true", _csrf: await admin.csrf() })).status,
    ).toBe(404);
  });

  test("a running job's log follows by polling; a viewer cannot cancel it, a member can", async () => {
    const queued = t.deps.db.select().from(jobs).where(eq(jobs.status, "queued")).get();
    expect(queued).toBeDefined();
    const id = queued?.id as string;
    const status = () => t.deps.db.select().from(jobs).where(eq(jobs.id, id)).get()?.status;

    const viewer = new Browser(fetcher);
    await viewer.login("vera", PW.viewer);
    const page = await (await viewer.request(`/jobs/${id}`)).text();
    expect(page).toContain(`data-follow="/jobs/${id}/log-stream"`);
    expect(page).not.toContain("Cancel job");
    // While it is queued the stream stays open: its first event is the log so far, then the API's snapshot.
    const open = await viewer.request(`/jobs/${id}/log-stream`);
    expect(open.status).toBe(200);
    expect(open.headers.get("content-type")).toContain("text/event-stream");
    const reader = (open.body as ReadableStream<Uint8Array>).getReader();
    let head = "";
    while (!head.includes("event: snapshot")) head += new TextDecoder().decode((await reader.read()).value);
    expect(head.indexOf("event: reset")).toBe(0);
    await reader.cancel();
    const forged = await viewer.post(`/jobs/${id}/cancel`, { _csrf: await viewer.csrf() });
    expect(forged.status).toBe(403);
    expect(status()).toBe("queued");

    const member = new Browser(fetcher);
    await member.login("mona", PW.member);
    expect(await (await member.request(`/jobs/${id}`)).text()).toContain("Cancel job");
    const res = await member.post(`/jobs/${id}/cancel`, { _csrf: await member.csrf() });
    expect(res.status).toBe(303);
    expect(status()).toBe("cancelled");
    const after = await (await member.request(`/jobs/${id}`)).text();
    expect(after).not.toContain("Cancel job");
    expect(after).not.toContain("hx-get");
    expect(after).not.toContain("data-follow=");
    // A finished job's stream ends by itself, and says so: the browser does not reconnect.
    const ended = await (await viewer.request(`/jobs/${id}/log-stream`)).text();
    expect(ended).toContain("event: job");
    expect(ended).toContain('"status":"cancelled"');
    expect(ended.trimEnd().endsWith("event: end\ndata:")).toBe(true);
  });
});
