/**
 * The string-built rows (views/escape.ts) against hostile tenant strings: env names, branches,
 * commit subjects, errors, host names, audit actors. Every page is rendered twice, with hostile
 * and with plain values of the same shape, and parsed (Bun's HTMLRewriter): the elements and
 * attribute names must be the same, so no value opened a tag, closed a cell or added an attribute.
 */
import { describe, expect, test } from "bun:test";
import { html } from "hono/html";
import type { BackupView } from "../../src/db/schema";
import type { DeployChoices, DeploymentView } from "../../src/deploy/schema";
import type { EnvDetail } from "../../src/env/schema";
import type { JobStepView, JobView } from "../../src/jobs/view";
import type { EnvRow, ProjectGroup } from "../../src/console/overview";
import type { ConsoleSession } from "../../src/console/session";
import { deployPage } from "../../src/console/views/actions";
import { type AuditRowView, auditPage } from "../../src/console/views/audit";
import { createPage, envPage } from "../../src/console/views/env";
import { esc } from "../../src/console/views/escape";
import { type HostView, hostsPage } from "../../src/console/views/hosts";
import { jobBlock } from "../../src/console/views/job";
import { jobsPage } from "../../src/console/views/jobs";
import type { Html } from "../../src/console/views/layout";
import { overviewPage } from "../../src/console/views/overview";

const HOSTILE = [
  `<script>alert(1)</script>`,
  `"><img src=x onerror=alert(1)>`,
  `' onmouseover='alert(1)`,
  `" autofocus onfocus="alert(1)`,
  `&amp;&lt;b&gt; & <`,
  `</td></tr></tbody></table><form action="//evil.test"><button>`,
];
const T = "2020-01-01T00:00:00.000Z";

describe("esc", () => {
  test("escapes the five characters that end text or a quoted attribute, and only them", () => {
    expect(esc(`<script>alert("x")</script>`)).toBe("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    expect(esc(`' onmouseover='x`)).toBe("&#39; onmouseover=&#39;x");
    expect(esc(`" onfocus="x`)).toBe("&quot; onfocus=&quot;x");
    // An entity a tenant typed is shown as typed, not decoded by the browser.
    expect(esc("a&amp;b")).toBe("a&amp;amp;b");
    expect(esc("shop-staging_1.0 éè/ok")).toBe("shop-staging_1.0 éè/ok");
    expect(esc(42)).toBe("42");
    expect(esc("")).toBe("");
  });

  test("gives the bytes hono/html gives, so string-built rows and templates render alike", () => {
    for (const s of [...HOSTILE, "plain", "a'b\"c&d<e>f", "&&&'''"]) expect(esc(s)).toBe(String(html`${s}`));
  });
});

/** Every element with its attribute names, in document order: what an injection would change. */
async function structure(page: Html): Promise<string[]> {
  const out: string[] = [];
  await new HTMLRewriter()
    .on("*", {
      element(el) {
        out.push(`${el.tagName}[${[...el.attributes].map(([k]) => k).join(",")}]`);
      },
    })
    .transform(new Response(String(await page)))
    .text();
  return out;
}

function session(role: "admin" | "member" | "viewer", v: string): ConsoleSession {
  return {
    principal: { userId: "u1", username: `${v}user`, role, via: "jwt", credentialId: "c1" },
    bearer: "bearer",
    csrf: "token",
  };
}

function envRow(v: string, i: number, tier: EnvRow["tier"]): EnvRow {
  return {
    id: `e${i}`,
    name: `${v}${i}`,
    slug: `${v}slug${i}`,
    tier,
    status: "active",
    statusReason: v,
    branch: v,
    url: `https://${v}.test`,
    odooImage: v,
    createdBy: v,
    createdAt: T,
    expiresAt: null,
    host: v,
    move: v,
    servingCommit: `0123456789${v}`,
    lastDeploy: { status: "failed", at: T },
    newestBackupAt: T,
    certDaysLeft: 9,
  };
}

function envDetail(v: string, tier: EnvRow["tier"]): EnvDetail {
  const { servingCommit: _s, lastDeploy: _l, newestBackupAt: _n, certDaysLeft: _c, ...summary } = envRow(v, 0, tier);
  return {
    ...summary,
    domain: v,
    databaseUrl: v,
    workers: 2,
    cpus: 1,
    memoryMb: 1024,
    modules: [],
    demo: false,
    httpPort: null,
    longpollPort: null,
    currentRelease: 3,
    disk: { databaseBytes: 1000, filestoreBytes: null, measuredOn: null, measuredAt: null },
    storageQuota: { quotaBytes: null, usedBytes: 0, exceeded: false, unknown: null },
    updatedAt: null,
    waitingForHost: null,
  };
}

function deployment(v: string, release: number, migrated: boolean, current: boolean): DeploymentView {
  return {
    id: `${v}d${release}`,
    env: "e0",
    release,
    kind: "deploy",
    status: "success",
    commit: `abcdef0123${v}`,
    branch: v,
    image: v,
    modulesUpdated: [],
    modulesInstalled: [],
    migrated,
    backupId: migrated ? `${v}backup` : null,
    rollbackOf: null,
    gates: null,
    approval: null,
    current,
    jobId: null,
    stepTimings: { [v]: 1500 },
    error: v,
    createdBy: v,
    createdAt: T,
    finishedAt: T,
  };
}

function backup(v: string): BackupView {
  return {
    id: `${v}b1`,
    env: "e0",
    kind: "manual",
    status: "completed",
    dbName: v,
    sizeBytes: 2048,
    createdAt: T,
    finishedAt: T,
    expiresAt: null,
    keptFor: [],
    location: { local: null, s3: null },
    error: null,
  };
}

function job(v: string, status: JobView["status"]): JobView {
  const step: JobStepView = {
    idx: 0,
    name: v,
    title: v,
    status: "failed",
    startedAt: T,
    finishedAt: T,
    durationMs: 1200,
    error: v,
  };
  return {
    id: `${v}j`,
    kind: v,
    target: v,
    status,
    error: v,
    result: null,
    createdBy: v,
    createdAt: T,
    startedAt: T,
    finishedAt: null,
    steps: [step, { ...step, idx: 1 }],
    blockedBy: null,
    waitingForHost: null,
  };
}

function host(v: string, draining: boolean): HostView {
  return {
    id: "h1",
    name: `${v}host`,
    role: "agent",
    status: "online",
    offlineSince: null,
    draining,
    labels: {},
    lastHeartbeatAt: T,
    agentVersion: null,
    inventory: {
      cores: 2,
      memoryMb: 2048,
      diskFreeMb: 100,
      load: 0.5,
      docker: v,
      postgres: null,
      nginx: null,
      agentVersion: "1",
    },
    containers: [],
    envs: [v, `${v}2`],
    createdAt: T,
    credentialRotationPending: false,
    credentialRotatedAt: null,
  };
}

const audit = (v: string): AuditRowView => ({
  id: "a1",
  at: T,
  actor: v,
  action: v,
  target: v,
  outcome: "denied",
  ip: v,
});

/** Every page with string-built rows, for one value put in each tenant-controlled field. */
function pages(v: string): Record<string, Html> {
  const admin = session("admin", v);
  const groups: ProjectGroup[] = [
    {
      project: v,
      tiers: [
        { tier: "production", envs: [envRow(v, 1, "production")] },
        { tier: "dev", envs: [envRow(v, 2, "dev"), envRow(v, 3, "dev")] },
      ],
    },
  ];
  const deployments = [deployment(v, 1, false, false), deployment(v, 2, true, false), deployment(v, 3, false, true)];
  const choices: DeployChoices = {
    branch: v,
    branches: [{ name: v, sha: `0123456789${v}`, date: T, subject: v }],
    commits: [{ sha: `abcdef0123${v}`, date: T, author: v, subject: v }],
  };
  const envData = (tier: EnvRow["tier"]) => ({
    env: envDetail(v, tier),
    deployments,
    candidates: [deployments[0]!],
    backups: [backup(v)],
    jobs: [job(v, "failed")],
    targets: [envRow(v, 4, "staging"), envRow(v, 5, "production")],
    live: job(v, "running"),
    error: v,
  });
  return {
    overview: overviewPage(admin, groups, v),
    envProduction: envPage(admin, envData("production")),
    envStaging: envPage(session("member", v), envData("staging")),
    deploy: deployPage(admin, envDetail(v, "staging"), choices, v),
    create: createPage(admin, { name: v, tier: "dev", branch: v, error: v }),
    audit: auditPage(admin, [audit(v), audit(`${v}2`)], { actor: v, action: v, since: v, filter: "denied" }, v),
    hosts: hostsPage(admin, [host(v, false), host(v, true)], v),
    jobs: jobsPage(admin, [job(v, "running"), job(v, "succeeded")]),
    jobBlock: jobBlock(job(v, "running"), { refresh: true }),
  };
}

describe("string-built rows with hostile tenant strings", () => {
  const plain = pages("plain");
  for (const name of Object.keys(plain)) {
    test(`${name}: the same elements and attributes as with plain values; the value shows as typed`, async () => {
      const want = await structure(plain[name]!);
      expect(want.some((e) => e.startsWith("tr[") || e.startsWith("option[") || e.startsWith("li["))).toBe(true);
      for (const v of HOSTILE) {
        const page = pages(v)[name]!;
        expect(await structure(page)).toEqual(want);
        const text = String(await page);
        expect(text).toContain(esc(v));
        expect(text).not.toContain(v);
      }
    });
  }
});
