/**
 * The main flows against the real Odoo 17 image (../shared/real-odoo), on private services
 * started with the test helpers (PostgreSQL, nginx in temp dirs, free ports; containers under a
 * unique name prefix), through the API and the job agent as the daemon runs them. Prints one
 * table row per check; exit 1 when a row failed. Run by scripts/real-odoo-check, not by CI.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { environments } from "../src/env/env.sql";
import { run } from "../src/exec/run";
import { pgConnect } from "../src/host/postgres";
import type { JobView } from "../src/jobs/view";
import { makeRepo } from "../test/git/repo";
import { startEnvHost } from "../test/support/env-host";
import { docker0Address } from "../test/support/postgres";
import { freePort } from "../test/support/ports";
import { makeTempDir, removeTempDir } from "../test/support/tmp";

const IMAGE = process.env.REAL_ODOO_IMAGE ?? "odooops-test/odoo-real:17.0";

interface Row {
  check: string;
  ok: boolean;
  seconds: number;
  detail: string;
}
const rows: Row[] = [];

async function check(name: string, fn: () => Promise<string>): Promise<boolean> {
  const t0 = Date.now();
  process.stderr.write(`… ${name}\n`);
  try {
    const detail = await fn();
    rows.push({ check: name, ok: true, seconds: Math.round((Date.now() - t0) / 1000), detail });
    return true;
  } catch (e) {
    rows.push({
      check: name,
      ok: false,
      seconds: Math.round((Date.now() - t0) / 1000),
      detail: (e instanceof Error ? e.message : String(e)).replace(/\s+/g, " ").slice(0, 300),
    });
    return false;
  }
}

function manifest(version: string): string {
  return `{'name': 'Check module', 'version': '${version}', 'depends': ['base'], 'license': 'LGPL-3', 'data': ['security/ir.model.access.csv']}\n`;
}
const v1 = {
  "check_mod/__manifest__.py": manifest("1.0"),
  "check_mod/__init__.py": "from . import models\n",
  "check_mod/models/__init__.py": "from . import thing\n",
  "check_mod/models/thing.py":
    'from odoo import fields, models\n\n\nclass CheckThing(models.Model):\n    _name = "check.thing"\n    _description = "Check thing"\n\n    name = fields.Char()\n',
  "check_mod/security/ir.model.access.csv":
    "id,name,model_id:id,group_id:id,perm_read,perm_write,perm_create,perm_unlink\naccess_check_thing,check.thing,model_check_thing,base.group_user,1,1,1,1\n",
  "check_mod/tests/__init__.py": "from . import test_thing\n",
  "check_mod/tests/test_thing.py":
    'from odoo.tests.common import TransactionCase, tagged\n\n\n@tagged("post_install", "-at_install")\nclass TestThing(TransactionCase):\n    def test_create(self):\n        self.assertEqual(self.env["check.thing"].create({"name": "x"}).name, "x")\n',
};
const v2 = {
  "check_mod/__manifest__.py": manifest("1.1"),
  "check_mod/models/thing.py":
    'from odoo import fields, models\n\n\nclass CheckThing(models.Model):\n    _name = "check.thing"\n    _description = "Check thing"\n\n    name = fields.Char()\n    code = fields.Char()\n',
  "check_mod/migrations/17.0.1.1/post-migrate.py":
    'def migrate(cr, version):\n    cr.execute("UPDATE check_thing SET code = %s", ["migrated"])\n',
};

async function main(): Promise<number> {
  const repoDir = makeTempDir("odooops-real-repo-");
  const host = await startEnvHost({
    configOverrides: {
      odoo: { image: IMAGE, healthTimeoutSec: 600 },
      deploy: { drainSec: 2, healthTimeoutSec: 600 },
      // What this machine can hold: production with workers (prefork + gevent), the others threaded.
      tiers: {
        production: { cpus: 2, memoryMb: 3072, workers: 2 },
        staging: { cpus: 1, memoryMb: 2048, workers: 0 },
        dev: { cpus: 1, memoryMb: 2048, workers: 0 },
      },
    },
  });
  const extra: string[] = [];
  const cleanup = async () => {
    await run({ argv: ["docker", "rm", "-f", "-v", `${host.config.docker.namePrefix}dbmanager`] }, { nothrow: true });
    await host.stop();
    removeTempDir(repoDir);
    for (const d of extra.filter((x) => x.startsWith("/"))) removeTempDir(d);
  };
  // Interrupted: the services and containers it started go too.
  for (const sig of ["SIGINT", "SIGTERM"] as const)
    process.once(sig, () => void cleanup().finally(() => process.exit(130)));
  try {
    const api = (method: string, path: string, body?: unknown) =>
      host.api.request(`/api/v1${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const job = async (res: Response): Promise<JobView> => {
      const body = (await res.json()) as { job?: JobView; id?: string; error?: { message: string } };
      const id = body.job?.id ?? body.id;
      if (!id) throw new Error(`HTTP ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
      const done = await host.waitJob(id, 40 * 60_000);
      if (done.status !== "succeeded") throw new Error(`job ${done.kind} ${done.status}: ${done.error ?? ""}`);
      return done;
    };
    const env = (slug: string) => host.deps.db.select().from(environments).where(eq(environments.slug, slug)).get()!;
    const onDb = async <T>(db: string, fn: (sql: ReturnType<typeof pgConnect>) => Promise<T>): Promise<T> => {
      const sql = pgConnect({
        host: host.pg.host,
        port: host.pg.port,
        user: host.pg.user,
        password: host.pg.password,
        database: db,
      });
      try {
        return await fn(sql);
      } finally {
        await sql.close();
      }
    };
    /** Polls the env through nginx until stopped; what a user would have seen during a deploy. */
    const poller = (domain: string) => {
      let polls = 0;
      let failed = 0;
      let stop = false;
      const done = (async () => {
        while (!stop) {
          polls++;
          const ok = await host.viaNginx(domain, "/web/health").then(
            (r) => r.status === 200,
            () => false,
          );
          if (!ok) failed++;
          await Bun.sleep(250);
        }
      })();
      return async () => {
        stop = true;
        await done;
        return { polls, failed };
      };
    };
    const underPoller = async (slug: string, fn: () => Promise<JobView>) => {
      const stop = poller(env(slug).domain);
      try {
        const j = await fn();
        const p = await stop();
        if (p.failed > 0) throw new Error(`${p.failed} of ${p.polls} polls failed during job ${j.id}`);
        return `${p.polls} polls, 0 failed`;
      } catch (e) {
        await stop();
        throw e;
      }
    };

    const repo = await makeRepo(repoDir);
    await repo.commit(v1);
    if ((await api("PUT", "/projects/default", { repoUrl: repo.url })).status !== 200)
      throw new Error("could not set the project's repository");

    const version = (
      await run({ argv: ["docker", "run", "--rm", "--entrypoint", "odoo", IMAGE, "--version"] }, { nothrow: true })
    ).stdout.trim();
    extra.push(`image ${IMAGE} (${version})`);

    for (const [slug, tier, modules] of [
      ["dev1", "dev", undefined],
      ["stage1", "staging", undefined],
      ["prod1", "production", ["base", "sale"]],
    ] as const) {
      await check(`create ${tier}${modules ? ` (${modules.join(", ")})` : ""}`, async () => {
        await job(await api("POST", "/environments", { name: slug, tier, ...(modules ? { modules } : {}) }));
        const r = await host.viaNginx(env(slug).domain, "/web/login");
        if (r.status !== 200) throw new Error(`/web/login via nginx: HTTP ${r.status}`);
        return `served through nginx, workers ${env(slug).workers}`;
      });
    }

    for (const slug of ["dev1", "prod1"]) {
      await check(`websocket through nginx (${slug}, workers ${env(slug)?.workers ?? "?"})`, async () => {
        const e = env(slug);
        const ws = new WebSocket(`ws://127.0.0.1:${host.config.nginx.httpPort}/websocket`, {
          headers: { host: e.domain, origin: `http://${e.domain}` },
        } as unknown as string[]);
        return await new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error("no upgrade within 15 s")), 15_000);
          ws.onopen = () => {
            clearTimeout(timer);
            ws.close();
            resolve("101 Switching Protocols");
          };
          ws.onerror = () => {
            clearTimeout(timer);
            reject(new Error("upgrade refused (see the vhost's error log)"));
          };
        });
      });
    }

    await check("deploy v1.0 to staging (tests gate, rehearsal, switch) under a poller", async () =>
      underPoller("stage1", async () => job(await api("POST", "/environments/stage1/deployments", {}))),
    );
    await onDb(env("stage1").dbName, (sql) => sql`INSERT INTO check_thing (name) VALUES ('before 1.1')`).catch(
      () => undefined,
    );
    await repo.commit(v2);
    await check("deploy v1.1 with a migration script under a poller", async () => {
      const out = await underPoller("stage1", async () =>
        job(await api("POST", "/environments/stage1/deployments", {})),
      );
      const code = await onDb(
        env("stage1").dbName,
        async (sql) => (await sql<{ code: string | null }[]>`SELECT code FROM check_thing LIMIT 1`)[0]?.code,
      );
      if (code !== "migrated") throw new Error(`the migration script did not run (code = ${code})`);
      return `${out}; post-migrate ran`;
    });
    // Staging takes no pre-deploy backup (production does): over a migration the guard refuses a
    // plain rollback, and --keep-db runs the old code on the migrated database.
    await check("rollback over the migration: guard, then --keep-db", async () => {
      const refused = await api("POST", "/environments/stage1/rollback", {});
      if (refused.status !== 409)
        throw new Error(`a rollback over a migration without a flag: HTTP ${refused.status}, expected 409`);
      await underPoller("stage1", async () =>
        job(await api("POST", "/environments/stage1/rollback", { keepDb: true })),
      );
      const r = await host.viaNginx(env("stage1").domain, "/web/login");
      if (r.status !== 200) throw new Error(`/web/login after the rollback: HTTP ${r.status}`);
      return "refused without a flag (409); --keep-db: serving the previous release";
    });
    await check("backup + restore (staging)", async () => {
      const b = await job(await api("POST", "/environments/stage1/backups"));
      await job(
        await api("POST", "/environments/stage1/db/restore", { backup: String(b.result?.backupId ?? "latest") }),
      );
      const r = await host.viaNginx(env("stage1").domain, "/web/login");
      if (r.status !== 200) throw new Error(`/web/login after the restore: HTTP ${r.status}`);
      return "restored, serving";
    });
    await check("clone production → staging (sale on the real schema)", async () => {
      const j = await job(await api("POST", "/environments/stage1/db/clone", { from: "prod1" }));
      const freeze = await onDb(
        env("stage1").dbName,
        async (sql) =>
          (await sql<{ v: string }[]>`SELECT value AS v FROM ir_config_parameter WHERE key = 'web.base.url.freeze'`)[0]
            ?.v,
      );
      return `${String(j.result?.method)}; web.base.url.freeze=${freeze}`;
    });

    let zipPath = "";
    await check("db export (Odoo's zip)", async () => {
      const j = await job(await api("POST", "/environments/prod1/db/export"));
      const r = await host.api.request(`/api/v1/exports/${String(j.result?.exportId)}`);
      if (r.status !== 200) throw new Error(`download: HTTP ${r.status}`);
      const dir = makeTempDir("odooops-real-export-");
      extra.push(dir);
      zipPath = join(dir, "export.zip");
      writeFileSync(zipPath, new Uint8Array(await r.arrayBuffer()));
      return `${Math.round(Number(j.result?.bytes ?? 0) / 1024)} KiB`;
    });
    await check("real Odoo's /web/database/restore accepts the export", async () => {
      if (!zipPath) throw new Error("no export");
      const gw = await docker0Address();
      const port = await freePort();
      const pw = crypto.randomUUID();
      await onDb("postgres", async (sql) => {
        await sql.unsafe(`CREATE ROLE realcheck LOGIN CREATEDB PASSWORD '${pw}'`);
      });
      writeFileSync(
        host.pg.hbaFile,
        `${await Bun.file(host.pg.hbaFile).text()}\nhost all realcheck 172.16.0.0/12 scram-sha-256\n`,
      );
      await onDb("postgres", (sql) => sql`SELECT pg_reload_conf()`);
      const name = `${host.config.docker.namePrefix}dbmanager`;
      await run({
        argv: [
          "docker",
          "run",
          "-d",
          "--name",
          name,
          "-p",
          `127.0.0.1:${port}:8069`,
          "-e",
          `HOST=${gw}`,
          "-e",
          `PORT=${host.pg.port}`,
          "-e",
          "USER=realcheck",
          "-e",
          `PASSWORD=${pw}`,
          IMAGE,
        ],
      });
      for (let i = 0; i < 240; i++) {
        if (
          await fetch(`http://127.0.0.1:${port}/web/health`).then(
            (r) => r.ok,
            () => false,
          )
        )
          break;
        await Bun.sleep(500);
      }
      const form = new FormData();
      form.append("master_pwd", "admin");
      form.append("name", "restored_export");
      form.append("copy", "true");
      form.append("backup_file", Bun.file(zipPath), "export.zip");
      const r = await fetch(`http://127.0.0.1:${port}/web/database/restore`, {
        method: "POST",
        body: form,
        redirect: "manual",
      });
      const body = await r.text();
      if (r.status !== 303 && r.status !== 302)
        throw new Error(
          `HTTP ${r.status}: ${body
            .replace(/<[^>]+>/g, " ")
            .replace(/\s+/g, " ")
            .slice(0, 200)}`,
        );
      const login = await fetch(`http://127.0.0.1:${port}/web/login?db=restored_export`, { redirect: "follow" });
      if (login.status !== 200) throw new Error(`restored, but /web/login?db=restored_export: HTTP ${login.status}`);
      return "restored as restored_export, login page 200";
    });

    await check("PDF report on production (sale.report_saleorder)", async () => {
      const e = env("prod1");
      const password = e.odooAdminPasswordEnc ? host.deps.box.open(e.odooAdminPasswordEnc) : "admin";
      const base = `http://127.0.0.1:${e.httpPort}`;
      const auth = await fetch(`${base}/web/session/authenticate`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", params: { db: e.dbName, login: "admin", password } }),
      });
      const cookie = (auth.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
      const a = (await auth.json()) as { result?: { uid: number }; error?: unknown };
      if (!a.result?.uid) throw new Error(`login failed: ${JSON.stringify(a.error).slice(0, 200)}`);
      const call = await fetch(`${base}/web/dataset/call_kw`, {
        method: "POST",
        headers: { "content-type": "application/json", cookie },
        body: JSON.stringify({
          jsonrpc: "2.0",
          params: { model: "sale.order", method: "create", args: [{ partner_id: 3 }], kwargs: {} },
        }),
      });
      const c = (await call.json()) as { result?: number; error?: unknown };
      if (!c.result) throw new Error(`sale.order create: ${JSON.stringify(c.error).slice(0, 200)}`);
      const pdf = await fetch(`${base}/report/pdf/sale.report_saleorder/${c.result}`, { headers: { cookie } });
      const bytes = new Uint8Array(await pdf.arrayBuffer());
      const head = new TextDecoder().decode(bytes.slice(0, 5));
      if (pdf.status !== 200 || head !== "%PDF-")
        throw new Error(
          `HTTP ${pdf.status} ${pdf.headers.get("content-type")}: ${new TextDecoder().decode(bytes.slice(0, 200)).replace(/\s+/g, " ")}`,
        );
      return `${bytes.length} bytes of PDF`;
    });
  } finally {
    await cleanup();
  }

  const w = Math.max(...rows.map((r) => r.check.length));
  const lines = [
    `odooops real-Odoo check, ${new Date().toISOString()}, ${extra.filter((x) => !x.startsWith("/")).join(", ")}`,
    "",
    `| ${"check".padEnd(w)} | result | s | detail |`,
    `|${"-".repeat(w + 2)}|--------|---|--------|`,
    ...rows.map(
      (r) =>
        `| ${r.check.padEnd(w)} | ${r.ok ? "pass  " : "FAIL  "} | ${r.seconds} | ${r.detail.replace(/\|/g, "/")} |`,
    ),
    "",
    `${rows.filter((r) => r.ok).length} passed, ${rows.filter((r) => !r.ok).length} failed`,
  ];
  console.log(lines.join("\n"));
  if (process.env.REAL_ODOO_CHECK_OUT) {
    mkdirSync(join(process.env.REAL_ODOO_CHECK_OUT, ".."), { recursive: true });
    writeFileSync(process.env.REAL_ODOO_CHECK_OUT, `${lines.join("\n")}\n`);
  }
  return rows.every((r) => r.ok) ? 0 : 1;
}

process.exit(await main());
