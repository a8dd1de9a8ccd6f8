/**
 * The Odoo admin password of an env: read back (admins only) and rotated by a job. The job's
 * parameters carry the new password sealed, so a rerun after a crash sets the same one.
 */
import { z } from "zod";
import type { Principal } from "../auth/service";
import { requireRole } from "../auth/roles";
import { Conflict } from "../errors";
import { defineJob, onEnv, EnvJobTarget } from "../jobs/define";
import { withSealedSecrets } from "../jobs/secrets";
import type { JobView } from "../jobs/view";
import type { CoordinatorDeps } from "../deps";
import { recordOdooAdminPassword } from "./state";
import { findEnv, loadEnvById } from "./lookup";
import { newOdooPassword, ODOO_ADMIN_LOGIN, setOdooAdminPassword } from "./odoo-admin";
import { requireCreated } from "./guards";

export const RotateParams = EnvJobTarget.extend({
  passwordEnc: z.string().min(1),
});
export type RotateParams = z.infer<typeof RotateParams>;

export const rotateAdminPasswordJob = defineJob<RotateParams>({
  kind: "env.rotate-admin-password",
  params: RotateParams,
  ...onEnv,
  steps: [
    {
      name: "admin-password",
      title: "Setting a new Odoo admin password",
      async run(ctx) {
        const env = loadEnvById(ctx.deps.db, ctx.params.envId);
        await setOdooAdminPassword(ctx.deps, env, ctx.deps.box.open(ctx.params.passwordEnc), { lockOthers: false });
        recordOdooAdminPassword(ctx.deps.db, env.id, ctx.params.passwordEnc);
        ctx.log(`user ${ODOO_ADMIN_LOGIN} of ${env.slug} has a new password (shown once to the user who asked)`);
      },
    },
  ],
  async succeeded(ctx) {
    return withSealedSecrets(
      { env: ctx.params.slug, adminLogin: ODOO_ADMIN_LOGIN },
      { adminPassword: ctx.params.passwordEnc },
    );
  },
});

export function startEnvRotateAdminPassword(deps: CoordinatorDeps, name: string, principal: Principal): JobView {
  requireRole(principal, "admin", "rotate an environment's Odoo admin password");
  const env = findEnv(deps.db, name);
  requireCreated(env, "its admin password can be set once it is active or stopped");
  const job = deps.jobs.enqueue(
    rotateAdminPasswordJob,
    { envId: env.id, slug: env.slug, passwordEnc: deps.box.seal(newOdooPassword()) },
    principal.username,
  );
  deps.audit.record({
    actor: principal.username,
    action: "env.rotate-admin-password",
    target: env.slug,
    details: { job: job.id },
  });
  return job;
}

export interface AdminPasswordView {
  env: string;
  login: string;
  password: string;
}

export function adminPasswordView(
  deps: Pick<CoordinatorDeps, "db" | "box" | "audit">,
  name: string,
  principal: Principal,
): AdminPasswordView {
  requireRole(principal, "admin", "read an environment's Odoo admin password");
  const env = findEnv(deps.db, name);
  if (!env.odooAdminPasswordEnc) {
    throw new Conflict(
      `environment ${env.slug} has no admin password stored by odooops (created before odooops set one); set one with: odooops env rotate-admin-password ${env.slug}`,
    );
  }
  deps.audit.record({ actor: principal.username, action: "env.show-admin-password", target: env.slug });
  return { env: env.slug, login: ODOO_ADMIN_LOGIN, password: deps.box.open(env.odooAdminPasswordEnc) };
}
