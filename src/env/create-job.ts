/**
 * `env create` as a job. Every step is idempotent (a rerun after a crash or a failure finds
 * what the last attempt left and finishes it) and has an undo, run in reverse on failure.
 */
import { chmodSync, chownSync, mkdirSync, rmSync } from "node:fs";
import { z } from "zod";
import { type StepContext, defineJob, onEnv } from "../jobs/define";
import type { Deps } from "../deps";
import { Conflict } from "../errors";
import { run } from "../exec/run";
import { createDatabase, createRole, dropDatabase, dropRole, removeHbaEntry, setHbaEntry } from "../host/postgres";
import { markCreateFailed } from "./state";
import { envHost } from "./host";
import { odooConfFor, writeOdooConf } from "./odoo-conf";
import { runOdooOnce } from "./odoo-once";
import { ODOO_ADMIN_LOGIN, setOdooAdminPassword } from "./odoo-admin";
import { withSealedSecrets } from "../jobs/secrets";
import { envResources } from "./resources";
import { loadEnvById } from "./lookup";
import type { Environment } from "./env.sql";
import { markEnvServed, networkOutput, networkStep, servingSteps, startWebContainer } from "./web-serving";

/**
 * `web` always: the health gate reads the login page (env/health), which `web` serves. Real Odoo
 * auto-installs it with `base`; naming it makes that explicit and holds for images that do not.
 */
export function initModules(modules: string[]): string[] {
  return modules.includes("web") ? modules : [...modules, "web"];
}

export const EnvJobParams = z.object({ envId: z.string().min(1), slug: z.string().min(1) });
export type EnvJobParams = z.infer<typeof EnvJobParams>;
type Ctx = StepContext<EnvJobParams>;

function envOf(ctx: Ctx): Environment {
  return loadEnvById(ctx.deps.db, ctx.params.envId);
}

function manageHba(deps: Deps): boolean {
  return deps.config.postgres.hbaFile !== "";
}

export const createEnvJob = defineJob<EnvJobParams>({
  kind: "env.create",
  params: EnvJobParams,
  ...onEnv,
  steps: [
    networkStep<EnvJobParams>({ undo: true }),
    {
      name: "database",
      title: "Provisioning database",
      async run(ctx) {
        const env = envOf(ctx);
        const password = ctx.deps.box.open(env.dbPasswordEnc);
        await envHost(ctx.deps).withAdmin(async (sql) => {
          ctx.log(`role ${env.dbUser}: ${await createRole(sql, env.dbUser, password)}`);
          ctx.log(`database ${env.dbName}: ${await createDatabase(sql, env.dbName, env.dbUser)}`);
          if (manageHba(ctx.deps)) {
            // Only the env's own network may reach its database (its containers' source addresses).
            const { subnet } = ctx.output(networkOutput);
            await setHbaEntry(sql, ctx.deps.config.postgres.hbaFile, {
              db: env.dbName,
              role: env.dbUser,
              cidr: subnet,
              extraDbs: ["postgres"],
            });
          }
        });
      },
      async undo(ctx) {
        const env = envOf(ctx);
        await envHost(ctx.deps).withAdmin(async (sql) => {
          if (manageHba(ctx.deps)) await removeHbaEntry(sql, ctx.deps.config.postgres.hbaFile, env.dbName);
          await dropDatabase(sql, env.dbName);
          await dropRole(sql, env.dbUser);
        });
      },
    },
    {
      name: "filestore",
      title: "Preparing the filestore",
      async run(ctx) {
        const env = envOf(ctx);
        const r = envResources(env, ctx.deps);
        mkdirSync(r.dataDir, { recursive: true, mode: 0o750 });
        chmodSync(r.dir, 0o755);
        // The Odoo image runs as uid 101; it must own its data dir (filestore, sessions).
        chownSync(r.dataDir, ctx.deps.config.odoo.uid, ctx.deps.config.odoo.gid);
      },
      async undo(ctx) {
        rmSync(envResources(envOf(ctx), ctx.deps).dir, { recursive: true, force: true });
      },
    },
    {
      name: "config",
      title: "Writing odoo.conf",
      async run(ctx) {
        const env = envOf(ctx);
        const file = envResources(env, ctx.deps).confFile;
        writeOdooConf(ctx.deps, file, odooConfFor(ctx.deps, env));
      },
      async undo(ctx) {
        rmSync(envResources(envOf(ctx), ctx.deps).confFile, { force: true });
      },
    },
    {
      name: "initdb",
      title: "Initialising the database",
      async run(ctx) {
        const env = envOf(ctx);
        const r = envResources(env, ctx.deps);
        const result = await runOdooOnce(ctx.deps, env, {
          image: env.odooImage,
          name: r.initContainer,
          network: r.network,
          confFile: r.confFile,
          dataDir: r.dataDir,
          dbName: env.dbName,
          args: ["-i", initModules(env.modules).join(","), ...(env.demo ? [] : ["--without-demo=all"])],
          log: (l) => ctx.log(l),
          signal: ctx.signal,
          timeoutMs: 30 * 60_000,
        });
        if (result.exitCode !== 0)
          throw new Error(`database init failed (exit ${result.exitCode}):\n${result.failure}`);
      },
      async undo(ctx) {
        const env = envOf(ctx);
        await run(envHost(ctx.deps).docker.rm(envResources(env, ctx.deps).initContainer, { force: true }), {
          nothrow: true,
        });
      },
    },
    {
      name: "admin-password",
      title: "Setting a random Odoo admin password",
      async run(ctx) {
        const env = envOf(ctx);
        if (!env.odooAdminPasswordEnc)
          throw new Conflict(`environment ${env.slug} has no admin password in state; create it again`);
        // Before the first start: Odoo never serves admin/admin (or demo/demo) to anyone.
        const { others } = await setOdooAdminPassword(ctx.deps, env, ctx.deps.box.open(env.odooAdminPasswordEnc), {
          lockOthers: true,
        });
        ctx.log(
          `user ${ODOO_ADMIN_LOGIN} has a random password (shown once to ${env.createdBy ?? "the creator"}); ${others} other user(s) got one nobody knows`,
        );
      },
    },
    ...servingSteps<EnvJobParams>({
      start: (ctx) => startWebContainer(ctx.deps, envOf(ctx), { reuseStoredPorts: false, log: ctx.log }),
      undo: true,
    }),
  ],
  async succeeded(ctx) {
    // A TLS failure leaves the env active over HTTP; the reason says why and how to retry.
    const env = markEnvServed(ctx);
    const result = { env: env.slug, domain: env.domain, adminLogin: ODOO_ADMIN_LOGIN };
    return env.odooAdminPasswordEnc ? withSealedSecrets(result, { adminPassword: env.odooAdminPasswordEnc }) : result;
  },
  async failed(ctx, error, cancelled) {
    markCreateFailed(ctx.deps.db, ctx.params.envId, cancelled ? "create cancelled" : error);
  },
});
