/**
 * The environment page's actions in Debian's chromium (playwright-core) against a real host
 * (PostgreSQL, nginx, dockerd, the Odoo stand-in, a git repository): deploy a commit from the
 * picker, roll back to the first release (choosing to keep the migrated database), back up now,
 * copy production to staging, follow a job's log and the env's Odoo log over SSE — each seen
 * finishing in the page. Jobs run only when the test runs them (no background agent), so the page
 * is watched from queued to done, deterministically. No CSP violation or console error; axe-core
 * finds nothing serious on the new pages. Screenshots go to test-output/console/ (git-ignored).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { withConsole } from "../../src/console/app";
import type { JobView } from "../../src/jobs/view";
import { runJob } from "../support/agents";
import { ADMIN_PASSWORD } from "../support/api";
import { type DeployEnv, shopManifest, startDeployEnv } from "../support/deploy-env";
import { removeByLabel } from "../support/docker";
import { randomSuffix } from "../support/tmp";

const OUT = join(import.meta.dir, "..", "..", "test-output", "console");
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const prodName = `bp-${randomSuffix(6)}`;
const stagingName = `bs-${randomSuffix(6)}`;

let t: DeployEnv | undefined;
let stagingId = "";
let server: ReturnType<typeof Bun.serve> | undefined;
let browser: Browser | undefined;
let ctx: BrowserContext | undefined;
let page: Page;
let base = "";
let v2 = "";
const problems: string[] = [];

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  t = await startDeployEnv({
    env: { name: prodName, tier: "production" },
    // Gates are covered by test/deploy/*: here the page's actions and their jobs are the subject.
    files: { "shop_extra/__manifest__.py": shopManifest("1.0"), ".odooops/policies.yaml": "health_gates: {}\n" },
    agent: false,
    configOverrides: {
      deploy: { drainSec: 0, healthTimeoutSec: 60, install: ["shop_extra"], runTests: false, rehearse: false },
    },
  });
  expect((await t.deploy()).d.status).toBe("success");
  const res = await t.api("POST", "/environments", { name: stagingName, tier: "staging" });
  expect(res.status).toBe(202);
  const created = (await res.json()) as { job: JobView; env: { id: string } };
  stagingId = created.env.id;
  expect((await t.waitJob(created.job.id)).status).toBe("succeeded");
  // A migrating release to deploy from the page: rolling back past it asks what to do with the database.
  v2 = await t.repo.commit({ "shop_extra/__manifest__.py": shopManifest("1.1") }, "shop_extra 1.1");
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: withConsole(t.host.deps, t.host.api.app) });
  base = `http://127.0.0.1:${server.port}`;
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"], headless: true });
  ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: base });
  await ctx.addInitScript({
    content: `document.addEventListener("securitypolicyviolation", (e) =>
      console.error("CSP violation: " + e.violatedDirective + " " + e.blockedURI));`,
  });
  page = await ctx.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`${page.url()}: ${e.message}`));
  await page.goto("/login");
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill(ADMIN_PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(`${base}/`);
}, 400_000);

afterAll(async () => {
  await ctx?.close().catch(() => undefined);
  await browser?.close().catch(() => undefined);
  await server?.stop(true);
  if (stagingId) await removeByLabel(`odooops.env=${stagingId}`);
  await t?.stop();
}, 240_000);

async function axe(name: string): Promise<void> {
  await page.screenshot({ path: join(OUT, `${name}-desktop.png`), fullPage: true });
  await page.evaluate(AXE);
  const found = (await page.evaluate(
    "axe.run().then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, n: v.nodes.length })))",
  )) as { id: string; impact: string | null; n: number }[];
  const serious = found.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => v.id);
  expect({ page: name, serious }).toEqual({ page: name, serious: [] });
}

/** The job the page was sent to (…?job=ID): run it, and wait for the page to show it finished. */
async function runShownJob(): Promise<JobView> {
  await page.waitForURL(/\?job=/);
  const id = new URL(page.url()).searchParams.get("job") as string;
  expect(await page.locator(".job[hx-get]").count()).toBe(1);
  const job = await runJob((t as DeployEnv).host, id);
  // The block polls itself and reloads the page once the job ended.
  await page.locator(".job[hx-get]").waitFor({ state: "detached", timeout: 120_000 });
  await page.waitForLoadState("load");
  expect(await page.locator(".job .badge").first().innerText()).toBe(job.status);
  return job;
}

const deployRows = () => page.locator("section[aria-labelledby=h-deploys] tbody tr");

describe("environment actions in chromium", () => {
  test("deploy a commit picked from the mirror, and see it serving", async () => {
    await page.goto(`/envs/${prodName}`);
    await axe("env-actions");
    await page.getByRole("link", { name: "Deploy…" }).click();
    const picked = page.getByLabel("What to deploy");
    expect(await picked.inputValue()).toBe(`sha:${v2}`);
    expect(await picked.locator("option").allInnerTexts()).toContainEqual(expect.stringContaining("shop_extra 1.1"));
    await axe("deploy-picker");
    await page.getByRole("button", { name: "Deploy" }).click();
    expect((await runShownJob()).status).toBe("succeeded");
    const first = deployRows().first();
    expect(await first.innerText()).toContain(v2.slice(0, 10));
    expect(await first.innerText()).toContain("serving");
  }, 240_000);

  test("roll back to the first deploy: the migration guard's choice is shown and taken", async () => {
    // Release numbers count the env's create too: read the serving one (the page's deploy) from the page.
    const serving = Number(/^\d+/.exec((await deployRows().first().innerText()).trim())?.[0]);
    const row = page.locator('form[action$="/rollback"]').filter({ hasText: `(release ${serving - 1})` });
    const db = row.getByLabel(`Database (migrated by release ${serving})`);
    expect(await db.locator("option").allInnerTexts()).toEqual([
      expect.stringContaining("restore backup"),
      "keep the newer database (old code on it)",
    ]);
    await db.selectOption("keep");
    await row.getByRole("button", { name: /Roll back to this/ }).click();
    expect((await runShownJob()).status).toBe("succeeded");
    const first = deployRows().first();
    expect(await first.innerText()).toContain("(rollback)");
    expect(await first.innerText()).toContain("serving");
    expect(t?.envRow().currentDeploymentId).not.toBeNull();
  }, 240_000);

  test("back up now, and follow the backup job's log over SSE until it ends", async () => {
    const before = await page.locator("section[aria-labelledby=h-backups] tbody tr").count();
    await page.getByRole("button", { name: "Back up now" }).click();
    await page.waitForURL(/\?job=/);
    const id = new URL(page.url()).searchParams.get("job") as string;
    // Queued: its page follows the log live.
    await page.goto(`/jobs/${id}`);
    const box = page.locator("[data-follow]");
    await page.locator("[data-follow][data-state=live]").waitFor({ timeout: 30_000 });
    await axe("job-following");
    expect((await runJob((t as DeployEnv).host, id)).status).toBe("succeeded");
    await page.locator("[data-follow][data-state=ended]").waitFor({ timeout: 60_000 });
    const followed = await box.locator("pre").innerText();
    const full = t?.jobLog(id) ?? "";
    expect(full.length).toBeGreaterThan(0);
    // Every line the job wrote reached the page, in order (the page shows the log's tail).
    expect(followed.trim()).toBe(full.trim().slice(-followed.trim().length));
    expect(followed.trim().length).toBe(full.trim().length);
    await page.goto(`/envs/${prodName}`);
    const rows = page.locator("section[aria-labelledby=h-backups] tbody tr");
    expect(await rows.count()).toBe(before + 1);
    expect(await rows.first().innerText()).toContain("completed");
  }, 240_000);

  test("copy production to staging: the clone job finishes on the staging page", async () => {
    await page.goto(`/envs/${prodName}`);
    await page.getByLabel("Copy to").selectOption(stagingName);
    await page.getByRole("button", { name: "Copy to…" }).click();
    await page.waitForURL(new RegExp(`/envs/${stagingName}\\?job=`));
    const job = await runShownJob();
    expect({ status: job.status, error: job.error }).toEqual({ status: "succeeded", error: null });
    expect(job.kind).toBe("db.clone");
    expect(await page.locator("h1 .badge").innerText()).toBe("active");
  }, 300_000);

  test("follow the env's Odoo log live", async () => {
    await page.goto(`/envs/${prodName}`);
    await page.getByRole("link", { name: "Follow the Odoo log live" }).click();
    await page.locator("[data-follow][data-state=live]").waitFor({ timeout: 30_000 });
    // A locator, not waitForFunction: a string predicate is an eval the page's CSP refuses.
    await page.locator("[data-follow] pre").filter({ hasText: /\S/ }).waitFor({ timeout: 30_000 });
    await axe("env-logs");
  }, 120_000);

  test("no console error and no CSP violation on any page", () => {
    expect(problems).toEqual([]);
  });
});
