/**
 * `db rotate-credentials ENV`: a new password for the env's PostgreSQL role, with zero failed
 * requests through nginx. The new password travels sealed in the job's parameters, so a rerun
 * after a crash sets the same one.
 *
 * Why a second login: a role has one password, and the serving Odoo needs its login to keep
 * working until nginx has switched away from it. Odoo's connection pool (odoo/sql_db.py,
 * ConnectionPool.borrow) opens a new connection whenever no idle one is free — a burst of
 * requests, a new prefork worker, the cron thread, `/web/health?db_server_status=1` on the
 * `postgres` database — and closes connections idle for 10 minutes (MAX_IDLE_TIMEOUT), so
 * "ALTER the password first, open connections survive" fails requests until the switch.
 *
 * So, with the deploy's start-beside-then-switch (deploy/release.ts):
 *  1. alias: a login role `<role>_rot` with the NEW password, member of the env's role and
 *     starting each session as it (`SET role`): same owner for everything Odoo touches; its name
 *     joins the env's pg_hba line. The env's role keeps the OLD password: the serving Odoo is
 *     untouched.
 *  2. beside: the serving release's image again, as `<container>-rot`, on odoo.conf with the
 *     alias and the new password, new ports; waits healthy (HTTP, database, gevent with workers).
 *  3. switch: nginx to it; the old container drains and is removed (its conf had the old login).
 *  4. password: the env's role gets the new password (nothing logs in with the old one any
 *     more), recorded in state, odoo.conf rewritten with the role itself.
 *  5. back: the release under its own name again, on the role and the new password; switch;
 *     the `-rot` container drains and is removed.
 *  6. cleanup: the alias is dropped and leaves the pg_hba line: the old password is refused,
 *     and the env looks exactly as before apart from its password.
 * A failure before the first switch undoes to the old state (old container serving, old
 * password); every step is idempotent, so a crashed job resumes where it stopped. A stopped env
 * only gets the new password and odoo.conf (it reads them when started).
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { randomSecret } from "../auth/secretbox";
import { pointNginxAt, retire, startBeside, startRelease } from "./release";
import type { CoordinatorDeps, Deps } from "../deps";
import { requireCreated } from "../env/guards";
import { envHost } from "../env/host";
import type { Environment } from "../env/env.sql";
import { findEnv, loadEnvById } from "../env/lookup";
import { odooConfFor, writeOdooConf } from "../env/odoo-conf";
import { envResources } from "../env/resources";
import { recordDbPassword } from "../env/state";
import { Conflict } from "../errors";
import { run } from "../exec/run";
import { createLoginAlias, createRole, dropThrowawayRole, readHbaEntries, setHbaEntry } from "../host/postgres";
import { defineJob, EnvJobTarget, onEnv, type StepContext, stepOutput, storingStep } from "../jobs/define";
import type { JobView } from "../jobs/view";

export const RotateCredentialsParams = EnvJobTarget.extend({
  passwordEnc: z.string().min(1),
});
export type RotateCredentialsParams = z.infer<typeof RotateCredentialsParams>;

type Ctx = StepContext<RotateCredentialsParams>;

/**
 * The login that serves while the role's password changes: `<role>_rot`, or for a role near
 * PostgreSQL's 63-character limit its first 50 characters, `_rot_` and a hash of the whole name
 * (distinct per role, like env/naming.ts's database names).
 */
export function aliasOf(role: string): string {
  const plain = `${role}_rot`;
  if (plain.length <= 63) return plain;
  return `${role.slice(0, 50)}_rot_${new Bun.CryptoHasher("sha256").update(role).digest("hex").slice(0, 8)}`;
}

/** The container serving during the rotation, beside the release's own. */
const asideOf = (container: string) => `${container}-rot`;

const besideOutput = stepOutput(
  "beside",
  z.object({
    image: z.string(),
    container: z.string(),
    httpPort: z.number(),
    longpollPort: z.number(),
    release: z.number(),
    /** The release's own container, serving before the rotation. */
    previous: z.string(),
  }),
);

const active = (p: RotateCredentialsParams, deps: Deps) => loadEnvById(deps.db, p.envId).status === "active";

/** The env's pg_hba line with (or without) the alias; no line when odooops does not manage pg_hba. */
async function hbaWithAlias(ctx: Ctx, env: Environment, withAlias: boolean): Promise<void> {
  const file = ctx.deps.config.postgres.hbaFile;
  if (file === "") return;
  const entry = readHbaEntries(readFileSync(file, "utf8")).find((e) => e.db === env.dbName);
  if (!entry) throw new Conflict(`pg_hba has no line for ${env.dbName}`);
  const extraRoles = withAlias ? [aliasOf(env.dbUser)] : undefined;
  await envHost(ctx.deps).withAdmin((sql) => setHbaEntry(sql, file, { ...entry, extraRoles }));
}

function writeConf(ctx: Ctx, env: Environment, user: string): void {
  const password = ctx.deps.box.open(ctx.params.passwordEnc);
  writeOdooConf(
    ctx.deps,
    envResources(env, ctx.deps).confFile,
    odooConfFor(ctx.deps, env, { name: env.dbName, user, password }),
  );
}

async function removeContainer(ctx: Ctx, name: string): Promise<void> {
  await run(envHost(ctx.deps).docker.rm(name, { force: true }), { nothrow: true });
}

async function dropAlias(ctx: Ctx, env: Environment): Promise<void> {
  await hbaWithAlias(ctx, env, false);
  await envHost(ctx.deps).withAdmin((sql) => dropThrowawayRole(sql, aliasOf(env.dbUser)));
}

export const rotateCredentialsJob = defineJob<RotateCredentialsParams>({
  kind: "db.rotate-credentials",
  params: RotateCredentialsParams,
  ...onEnv,
  steps: [
    {
      name: "alias",
      title: "Adding a second login with the new password",
      when: active,
      async run(ctx) {
        const env = loadEnvById(ctx.deps.db, ctx.params.envId);
        const alias = aliasOf(env.dbUser);
        await envHost(ctx.deps).withAdmin((sql) =>
          createLoginAlias(sql, alias, env.dbUser, ctx.deps.box.open(ctx.params.passwordEnc)),
        );
        await hbaWithAlias(ctx, env, true);
        ctx.log(`login ${alias} acts as ${env.dbUser}; ${env.dbUser} keeps its password until the switch`);
      },
      async undo(ctx) {
        await dropAlias(ctx, loadEnvById(ctx.deps.db, ctx.params.envId));
      },
    },
    storingStep(besideOutput, {
      title: "Starting the release beside itself on the new login",
      when: active,
      async run(ctx) {
        const env = loadEnvById(ctx.deps.db, ctx.params.envId);
        const previous = env.containerName;
        if (!previous) throw new Conflict(`environment ${env.slug} has no container`);
        const info = await envHost(ctx.deps).dockerClient.inspectContainer(previous);
        if (!info) throw new Conflict(`container ${previous} of ${env.slug} does not exist`);
        writeConf(ctx, env, aliasOf(env.dbUser));
        const started = await startBeside(ctx.deps, env, asideOf(previous), env.release, info.Config.Image, ctx);
        return { ...started, image: info.Config.Image, previous };
      },
      async undo(ctx) {
        const env = loadEnvById(ctx.deps.db, ctx.params.envId);
        // The old container serves on the old login: odoo.conf says so again for its next start.
        writeOdooConf(ctx.deps, envResources(env, ctx.deps).confFile, odooConfFor(ctx.deps, env));
        if (env.containerName) await removeContainer(ctx, asideOf(env.containerName));
      },
    }),
    {
      name: "switch",
      title: "Switching traffic to it",
      when: active,
      async run(ctx) {
        const out = ctx.output(besideOutput);
        await pointNginxAt(ctx.deps, loadEnvById(ctx.deps.db, ctx.params.envId), out, ctx);
        await retire(ctx.deps, out.previous, ctx);
        await removeContainer(ctx, out.previous);
      },
    },
    {
      name: "password",
      title: "Setting the role's new password",
      async run(ctx) {
        const env = loadEnvById(ctx.deps.db, ctx.params.envId);
        // createRole on an existing role only resets its password (and refuses a superuser).
        await envHost(ctx.deps).withAdmin((sql) =>
          createRole(sql, env.dbUser, ctx.deps.box.open(ctx.params.passwordEnc)),
        );
        writeConf(ctx, recordDbPassword(ctx.deps.db, ctx.params.envId, ctx.params.passwordEnc), env.dbUser);
        ctx.log(`role ${env.dbUser} has a new password`);
      },
    },
    {
      name: "back",
      title: "Serving from the release's own container on the role again",
      when: active,
      async run(ctx) {
        const out = ctx.output(besideOutput);
        const env = loadEnvById(ctx.deps.db, ctx.params.envId);
        const started = await startRelease(ctx.deps, env, out.release, out.image, ctx);
        await pointNginxAt(ctx.deps, env, started, ctx);
        await retire(ctx.deps, out.container, ctx);
        await removeContainer(ctx, out.container);
      },
    },
    {
      name: "cleanup",
      title: "Dropping the second login",
      when: active,
      async run(ctx) {
        await dropAlias(ctx, loadEnvById(ctx.deps.db, ctx.params.envId));
      },
    },
  ],
  async succeeded(ctx) {
    return { env: ctx.params.slug, role: loadEnvById(ctx.deps.db, ctx.params.envId).dbUser };
  },
});

export function startDbRotateCredentials(deps: CoordinatorDeps, name: string, actor: string): JobView {
  const env = findEnv(deps.db, name);
  requireCreated(env, "its database credentials can be rotated once it is active or stopped");
  const job = deps.jobs.enqueue(
    rotateCredentialsJob,
    { envId: env.id, slug: env.slug, passwordEnc: deps.box.seal(randomSecret(24)) },
    actor,
  );
  deps.audit.record({
    actor,
    action: "db.rotate-credentials",
    target: env.slug,
    details: { role: env.dbUser, job: job.id },
  });
  return job;
}
