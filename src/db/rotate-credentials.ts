/**
 * `db rotate-credentials ENV`: a new password for the env's PostgreSQL role, odoo.conf
 * re-rendered with it, the container restarted and checked through nginx. The new password
 * travels sealed in the job's parameters, so a rerun after a crash sets the same one.
 *
 * Order: role first (until the restart, Odoo's open connections keep working with the old
 * login), then the row and odoo.conf, then the restart. The restart is a short outage (Odoo's
 * boot); a start-beside-then-switch like a deploy's is not done here.
 */
import { z } from "zod";
import { randomSecret } from "../auth/secretbox";
import { envHost } from "../env/host";
import type { CoordinatorDeps } from "../deps";
import { recordDbPassword } from "../env/state";
import { findEnv, loadEnvById } from "../env/lookup";
import { odooConfFor, writeOdooConf } from "../env/odoo-conf";
import { envResources } from "../env/resources";
import { waitEnvServed } from "../env/served";
import { Conflict } from "../errors";
import { run } from "../exec/run";
import { createRole } from "../host/postgres";
import { defineJob, onEnv, EnvJobTarget } from "../jobs/define";
import type { JobView } from "../jobs/view";
import { requireCreated } from "../env/guards";

export const RotateCredentialsParams = EnvJobTarget.extend({
  passwordEnc: z.string().min(1),
});
export type RotateCredentialsParams = z.infer<typeof RotateCredentialsParams>;

export const rotateCredentialsJob = defineJob<RotateCredentialsParams>({
  kind: "db.rotate-credentials",
  params: RotateCredentialsParams,
  ...onEnv,
  steps: [
    {
      name: "role",
      title: "Setting the database role's new password",
      async run(ctx) {
        const env = loadEnvById(ctx.deps.db, ctx.params.envId);
        // createRole on an existing role only resets its password (and refuses a superuser).
        await envHost(ctx.deps).withAdmin((sql) =>
          createRole(sql, env.dbUser, ctx.deps.box.open(ctx.params.passwordEnc)),
        );
        ctx.log(`role ${env.dbUser} has a new password`);
      },
    },
    {
      name: "config",
      title: "Writing odoo.conf with it",
      async run(ctx) {
        const env = recordDbPassword(ctx.deps.db, ctx.params.envId, ctx.params.passwordEnc);
        writeOdooConf(ctx.deps, envResources(env, ctx.deps).confFile, odooConfFor(ctx.deps, env));
      },
    },
    {
      name: "restart",
      title: "Restarting Odoo on the new login",
      // A stopped env reads the new odoo.conf when it is started.
      when: (p, deps) => loadEnvById(deps.db, p.envId).status === "active",
      async run(ctx) {
        const env = loadEnvById(ctx.deps.db, ctx.params.envId);
        if (!env.containerName) throw new Conflict(`environment ${env.slug} has no container`);
        await run(envHost(ctx.deps).docker.restart(env.containerName, 30));
        await waitEnvServed(ctx.deps, env, ctx);
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
