/**
 * Envs of a test fleet (test/support/fleet.ts) as the cross-host clone tests handle them: created
 * through the API, read as the env's own role on its host's PostgreSQL, production seeded with
 * personal data (pii-fixture.ts), and the real CLI against the coordinator as an admin of its own.
 */
import { expect } from "bun:test";
import type { SQL } from "bun";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { environments, type Environment } from "../../src/env/env.sql";
import { envResources } from "../../src/env/resources";
import { envDbLogin } from "../../src/env/tenant-login";
import { pgConnect } from "../../src/host/postgres/connect";
import type { JobView } from "../../src/jobs/view";
import { runCliWith } from "./cli";
import type { startFleet } from "./fleet";
import { fillPiiDatabase, type PiiGroundTruth } from "./pii-fixture";

type Fleet = Awaited<ReturnType<typeof startFleet>>;

/** `admin` names the CLI's user (created on first use, password `<admin>-password-1`). */
export function fleetEnvs(fleet: () => Fleet, admin: string) {
  const coord = () => fleet().coordinator().deps;
  const envRow = (id: string) => coord().db.select().from(environments).where(eq(environments.id, id)).get()!;
  let cliToken = "";

  /** As the env's own role on its host's PostgreSQL, as the daemon reads a tenant database. */
  async function asRole<T>(env: Environment, fn: (sql: SQL) => Promise<T>): Promise<T> {
    const l = envDbLogin(coord(), envRow(env.id));
    const agentPg = fleet().agents.find((a) => a.daemon.hostId === env.hostId)?.pg;
    const port = agentPg ? agentPg.port : l.port;
    const sql = pgConnect({ host: "127.0.0.1", port, user: l.user, password: l.password, database: l.database });
    try {
      return await fn(sql);
    } finally {
      await sql.close();
    }
  }

  /** `POST /environments/<to>/db/clone` from `from`, confirmed (plus `extra` fields): the chain's job id, once accepted. */
  async function startClone(to: Environment, from: Environment, extra: Record<string, unknown> = {}): Promise<string> {
    const r = await fleet().api<{ job: JobView }>("POST", `/environments/${to.slug}/db/clone`, {
      from: from.slug,
      confirm: to.slug,
      ...extra,
    });
    expect(r.status).toBe(202);
    return r.body.job.id;
  }

  return {
    coord,
    envRow,
    asRole,
    /** The real CLI (citty, injected fetch) against the coordinator. */
    async cli(argv: string[]) {
      if (!cliToken) {
        await coord().auth.createUser(admin, `${admin}-password-1`, "admin");
        cliToken = (await coord().auth.login(admin, `${admin}-password-1`)).token;
      }
      return runCliWith(argv, {
        fetch: (url, init) => fetch(url, init),
        env: { ODOOOPS_URL: fleet().coordinator().url, ODOOOPS_TOKEN: cliToken, ODOOOPS_ROOT: "/nonexistent" },
      });
    },
    /** `POST /environments` of `name` (tier, host) with the mail module, waited for: its row. */
    async create(name: string, tier: string, host: string): Promise<Environment> {
      const { status, body } = await fleet().api<{ env: { id: string }; job: JobView; error?: unknown }>(
        "POST",
        "/environments",
        { name, tier, host, modules: ["base", "web", "mail"] },
      );
      expect({ status, error: body.error }).toEqual({ status: 202, error: undefined });
      const job = await fleet().waitJob(body.job.id);
      expect(job.error).toBeNull();
      return envRow(body.env.id);
    },
    startClone,
    /** A clone's chain waited for: it must succeed (its log is printed when not). */
    async clone(to: Environment, from: Environment): Promise<JobView> {
      const job = await fleet().waitJob(await startClone(to, from));
      if (job.error) console.error(coord().jobs.logs.read(job.id, 0).text.slice(-4000));
      expect(job.error).toBeNull();
      return job;
    },
    /** Plants 40 partners' personal data (and attachments in its filestore) in a production env on the coordinator. */
    seedPii: (prod: Environment): Promise<PiiGroundTruth> =>
      asRole(prod, (sql) =>
        fillPiiDatabase(sql, {
          partners: 40,
          filestoreDir: join(envResources(prod, coord()).dataDir, "filestore", prod.dbName),
          uid: coord().config.odoo.uid,
          gid: coord().config.odoo.gid,
        }),
      ),
    /**
     * Production's planted addresses (all carry `tag`) still found in an env's database: e-mails,
     * logins, messages, and with `attachments` the attachments' names and text as well.
     */
    leaked: (env: Environment, tag: string, opts: { attachments: boolean }) =>
      asRole(env, async (sql) => {
        const like = `%${tag}%`;
        const [r] = await sql<{ n: number }[]>`
      SELECT ((SELECT count(*) FROM res_partner WHERE email ILIKE ${like})
           + (SELECT count(*) FROM res_users WHERE login ILIKE ${like})
           + (SELECT count(*) FROM mail_message WHERE body ILIKE ${like} OR email_from ILIKE ${like}))::int AS n`;
        if (!opts.attachments) return r!.n;
        const [a] = await sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM ir_attachment
        WHERE name ILIKE ${like} OR description ILIKE ${like} OR index_content ILIKE ${like}`;
        return r!.n + a!.n;
      }),
    /** The partners' rows, phone included: what a clone must carry over (or an anonymizer change). */
    partnerSum: (env: Environment) =>
      asRole(env, async (sql) => {
        const [r] = await sql<{ sum: string; n: number }[]>`
      SELECT md5(string_agg(concat_ws('|', id, name, email, phone), ',' ORDER BY id)) AS sum, count(*)::int AS n FROM res_partner`;
        return r!;
      }),
  };
}
