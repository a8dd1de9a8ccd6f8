/**
 * Test harness for `db rotate-credentials` on an env host (test/deploy/rotate-credentials*.test.ts):
 * the env to rotate, logins as its roles, and what a rotation must leave behind, finished or undone.
 */
import { expect } from "bun:test";
import { readFileSync } from "node:fs";
import { aliasOf } from "../../src/deploy/rotate-credentials";
import type { Environment } from "../../src/env/env.sql";
import { run } from "../../src/exec/run";
import { pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import type { startEnvHost } from "./env-host";

type Host = Awaited<ReturnType<typeof startEnvHost>>;

/** What a rotation is compared against: the env's row, its password, pg_hba.conf. */
export interface BeforeRotation {
  env: Environment;
  password: string;
  hba: string;
}

/** `host` is a getter: the host starts in beforeAll, after this is called at the file's top. */
export function rotationEnv(host: () => Host, slug: string) {
  const env = (): Environment => host().liveEnv(slug)!;

  /** `ok as <current_user>`, or PostgreSQL's refusal. */
  async function loginAs(user: string, password: string): Promise<string> {
    const pg = host().pg;
    const sql = pgConnect({ host: pg.host, port: pg.port, user, password, database: env().dbName });
    try {
      const [row] = await sql<{ u: string }[]>`SELECT current_user AS u`;
      return `ok as ${row?.u}`;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    } finally {
      await sql.close();
    }
  }

  return {
    env,
    loginAs,

    /** Creates the env (tier dev, base + web) and waits for its job with `finish`. */
    async create(finish: (jobId: string) => Promise<JobView>): Promise<void> {
      const res = await host().api.request("/api/v1/environments", {
        method: "POST",
        body: JSON.stringify({ name: slug, tier: "dev", modules: ["base", "web"] }),
      });
      expect(res.status).toBe(202);
      expect((await finish(((await res.json()) as { job: JobView }).job.id)).status).toBe("succeeded");
    },

    before(): BeforeRotation {
      const e = env();
      return {
        env: e,
        password: host().deps.box.open(e.dbPasswordEnc),
        hba: readFileSync(host().config.postgres.hbaFile, "utf8"),
      };
    },

    /**
     * Either way a rotation ends: the env on its own container, only `password` logs in as its
     * role, no second login, no container set aside, pg_hba.conf as before.
     */
    async expectSettled(before: BeforeRotation, password: string): Promise<void> {
      const after = env();
      expect(await loginAs(after.dbUser, password)).toBe(`ok as ${after.dbUser}`);
      if (password !== before.password)
        expect(await loginAs(after.dbUser, before.password)).toMatch(/password authentication failed/);
      expect(await loginAs(aliasOf(after.dbUser), password)).toMatch(/password authentication failed|does not exist/);
      expect(after.containerName).toBe(before.env.containerName);
      expect(after.release).toBe(before.env.release);
      expect(readFileSync(host().config.postgres.hbaFile, "utf8")).toBe(before.hba);
      const aside = await run({ argv: ["docker", "inspect", `${before.env.containerName}-rot`] }, { nothrow: true });
      expect(aside.exitCode).not.toBe(0);
    },
  };
}
