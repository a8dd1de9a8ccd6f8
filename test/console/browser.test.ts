/**
 * The console in a real browser: Debian's chromium (headless, driven by playwright-core) against
 * a real host (PostgreSQL, nginx, dockerd, the Odoo stand-in) served on a free loopback port.
 * Logs in, creates an env and watches its job finish, backs it up, logs out; a viewer sees no
 * mutating control and a forged POST is refused; CSRF-less POSTs are refused; no CSP violation
 * or console error on any page; axe-core finds nothing serious. Screenshots of every page at
 * 1280×800 and 390×844 go to test-output/console/ (git-ignored).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { withConsole } from "../../src/console/app";
import { CONTENT_SECURITY_POLICY } from "../../src/console/security";
import type { JobView } from "../../src/jobs/view";
import { ADMIN_PASSWORD } from "../support/api";
import { startEnvHost } from "../support/env-host";
import { randomSuffix } from "../support/tmp";

const OUT = join(import.meta.dir, "..", "..", "test-output", "console");
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const VIEWPORTS = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } } as const;
const VIEWER = { name: "vic", password: "viewer-password-long" };
const envName = `web-${randomSuffix(6)}`;

let host: Awaited<ReturnType<typeof startEnvHost>> | undefined;
let server: ReturnType<typeof Bun.serve> | undefined;
let browser: Browser | undefined;
let base = "";
/** Every console error, page error and CSP violation seen by any page, with its page. */
const problems: string[] = [];

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  host = await startEnvHost();
  await host.deps.auth.createUser(VIEWER.name, VIEWER.password, "viewer");
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: withConsole(host.deps, host.api.app) });
  base = `http://127.0.0.1:${server.port}`;
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"], headless: true });
}, 180_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await server?.stop(true);
  if (host) {
    const res = await host.api.request(`/api/v1/environments/${envName}`, { method: "DELETE" });
    if (res.status === 202) await host.waitJob(((await res.json()) as JobView).id).catch(() => undefined);
    await host.stop();
  }
}, 240_000);

async function newContext(viewport: { width: number; height: number }): Promise<BrowserContext> {
  const ctx = await (browser as Browser).newContext({ viewport, baseURL: base });
  // Injected by the driver (not subject to the page's CSP): records every violation the page reports.
  await ctx.addInitScript({
    content: `document.addEventListener("securitypolicyviolation", (e) =>
      console.error("CSP violation: " + e.violatedDirective + " " + e.blockedURI));`,
  });
  ctx.on("page", watch);
  return ctx;
}

function watch(page: Page) {
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`${page.url()}: ${e.message}`));
}

/** axe-core in the page (evaluated by the driver, so the CSP need not allow it): serious or worse fail. */
async function axe(page: Page): Promise<string[]> {
  await page.evaluate(AXE);
  const found = (await page.evaluate(
    "axe.run().then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, n: v.nodes.length })))",
  )) as { id: string; impact: string | null; n: number }[];
  return found.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id} (${v.n})`);
}

async function shoot(page: Page, name: string, size: keyof typeof VIEWPORTS) {
  await page.screenshot({ path: join(OUT, `${name}-${size}.png`), fullPage: true });
  expect({ page: name, size, serious: await axe(page) }).toEqual({ page: name, size, serious: [] });
}

async function login(page: Page, username: string, password: string) {
  const res = await page.goto("/login");
  expect(res?.headers()["content-security-policy"]).toBe(CONTENT_SECURITY_POLICY);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(`${base}/`);
}

let envPath = "";

describe("the console in chromium", () => {
  test("an admin logs in, creates an env, watches its job finish, backs it up, logs out", async () => {
    const ctx = await newContext(VIEWPORTS.desktop);
    const page = await ctx.newPage();
    await page.goto("/login");
    await shoot(page, "login", "desktop");
    await login(page, "admin", ADMIN_PASSWORD);
    await expect(page.getByText("No environment yet")).toBeDefined();
    expect(await page.locator("p.empty").innerText()).toContain("No environment yet");
    await shoot(page, "environments-empty", "desktop");

    await page.getByRole("link", { name: "Create environment" }).click();
    await page.getByLabel("Name").fill(envName);
    await page.getByLabel("Tier").selectOption("dev");
    await shoot(page, "create", "desktop");
    await page.getByRole("button", { name: "Create" }).click();
    await page.waitForURL(/\/envs\/.+\?job=/);
    envPath = new URL(page.url()).pathname;
    expect(await page.locator(".job").innerText()).toContain("env.create");
    await shoot(page, "env-creating", "desktop");
    // The job block polls itself (htmx) and reloads the page when the job ends.
    await page.locator(".job[hx-get]").waitFor({ state: "detached", timeout: 180_000 });
    await page.waitForLoadState("load");
    expect(await page.locator(".job .badge").first().innerText()).toBe("succeeded");
    expect(await page.locator("h1 .badge").innerText()).toBe("active");

    await page.getByRole("button", { name: "Back up now" }).click();
    await page.waitForURL(/\?job=/);
    await page.locator(".job[hx-get]").waitFor({ state: "detached", timeout: 120_000 });
    await page.waitForLoadState("load");
    const backups = page.locator("section[aria-labelledby=h-backups] tbody tr");
    expect(await backups.count()).toBeGreaterThanOrEqual(1);
    expect(await backups.first().innerText()).toContain("completed");
    await shoot(page, "environment", "desktop");

    await page.goto("/");
    const row = page.locator("tr", { has: page.getByRole("link", { name: envName }) });
    expect(await row.innerText()).toContain("active");
    expect(await row.innerText()).not.toMatch(/\bnever\b.*\bnever\b.*—\s*$/);
    await shoot(page, "environments", "desktop");

    await page.getByRole("link", { name: "Jobs", exact: true }).click();
    await shoot(page, "jobs", "desktop");
    await page.getByRole("link", { name: "db.backup" }).first().click();
    expect(await page.locator("ol.steps li").count()).toBeGreaterThan(0);
    await shoot(page, "job", "desktop");

    await page.getByRole("link", { name: "Hosts" }).click();
    await shoot(page, "hosts", "desktop");

    await page.getByRole("link", { name: "Audit log" }).click();
    await page.getByLabel("Action").fill("env");
    await page.getByRole("button", { name: "Filter" }).click();
    expect(await page.locator("tbody").innerText()).toContain("env.create");
    await shoot(page, "audit", "desktop");

    // A POST without a CSRF token, and with a wrong one, from the logged-in browser: refused.
    const envsBefore = host?.deps.db.$client.query("select count(*) as n from jobs").get() as { n: number };
    expect((await ctx.request.post(`${envPath}/backups`, { form: {} })).status()).toBe(403);
    expect((await ctx.request.post(`${envPath}/backups`, { form: { _csrf: "wrong" } })).status()).toBe(403);
    expect(host?.deps.db.$client.query("select count(*) as n from jobs").get()).toEqual(envsBefore);

    await page.getByRole("button", { name: "Log out" }).click();
    await page.waitForURL(`${base}/login`);
    await page.goto("/");
    expect(new URL(page.url()).pathname).toBe("/login");
    await ctx.close();
  }, 240_000);

  test("a viewer sees no mutating control, and a forged POST with a valid CSRF token is refused 403", async () => {
    const ctx = await newContext(VIEWPORTS.desktop);
    const page = await ctx.newPage();
    await login(page, VIEWER.name, VIEWER.password);
    expect(await page.getByRole("link", { name: "Create environment" }).count()).toBe(0);
    expect(await page.getByRole("link", { name: "Audit log" }).count()).toBe(0);
    await page.goto(envPath);
    expect(await page.getByRole("button", { name: "Back up now" }).count()).toBe(0);
    const postForms = await page
      .locator("form[method=post]")
      .evaluateAll((fs) => fs.map((f) => f.getAttribute("action")));
    expect(postForms).toEqual(["/logout"]);
    const csrf = await page.locator("input[name=_csrf]").first().inputValue();
    const count = () => host?.deps.db.$client.query("select count(*) as n from jobs").get();
    const before = count();
    const forged = await ctx.request.post(`${envPath}/backups`, { form: { _csrf: csrf } });
    expect(forged.status()).toBe(403);
    expect(await forged.text()).toContain("only member users may back up environments");
    expect(count()).toEqual(before);
    await ctx.close();
  }, 60_000);

  test("every page is readable on a phone (390×844) with nothing serious for axe", async () => {
    const ctx = await newContext(VIEWPORTS.phone);
    const page = await ctx.newPage();
    await page.goto("/login");
    await shoot(page, "login", "phone");
    await login(page, "admin", ADMIN_PASSWORD);
    for (const [name, path] of [
      ["environments", "/"],
      ["create", "/envs/new"],
      ["environment", envPath],
      ["jobs", "/jobs"],
      ["hosts", "/hosts"],
      ["audit", "/audit"],
    ] as const) {
      await page.goto(path);
      // Nothing wider than the screen but the tables' own scroll boxes.
      const overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth");
      expect({ name, overflow }).toEqual({ name, overflow: 0 });
      await shoot(page, name, "phone");
    }
    await page.goto("/jobs");
    await page.locator("tbody a").first().click();
    await shoot(page, "job", "phone");
    await ctx.close();
  }, 120_000);

  test("no console error and no CSP violation on any page", () => {
    expect(problems).toEqual([]);
  });
});
