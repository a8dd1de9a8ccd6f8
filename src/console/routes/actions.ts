/**
 * The environment page's actions: deploy (picker page + post), roll back, restore, copy to another
 * env. Each form is parsed with zod, then sent to the API route the CLI uses (same permission
 * table, production guards, audit row); the answer's job is shown live on the env page.
 */
import { z } from "zod";
import type { DbOperationResponse } from "../../db/schema";
import type { DeployChoices, DeployOutcome, DeploymentView } from "../../deploy/schema";
import type { EnvDetail } from "../../env/schema";
import type { JobView } from "../../jobs/view";
import { ApiError } from "../api-call";
import { asUser, type ConsoleApp, type ConsoleCtx, type ConsoleDeps, sessionOf } from "../context";
import { can } from "../session";
import { deployPage } from "../views/actions";

const Id = z.string().regex(/^[\w.-]{1,100}$/, "pick an item from the list");
const DeployForm = z.object({
  ref: z.union([z.string().regex(/^sha:[0-9a-f]{7,40}$/), z.string().regex(/^branch:[\w./+-]{1,200}$/)]),
});
const RollbackForm = z.object({ to: Id, db: z.enum(["", "restore", "keep"]).default("") });
const RestoreForm = z.object({ backup: Id, confirm: z.string().max(200).optional() });
const CopyForm = z.object({
  target: z.string().regex(/^[\w-]{1,200}$/, "pick a target environment"),
  anonymize: z.enum(["default", "yes", "no"]).default("default"),
  confirm: z.string().max(200).optional(),
});

export const apiEnv = (name: string) => `/environments/${encodeURIComponent(name)}`;
const pageOf = (name: string, job: JobView) => `/envs/${encodeURIComponent(name)}?job=${encodeURIComponent(job.id)}`;

/** The form's string fields (a file field is not a string and is ignored). */
async function formOf(c: ConsoleCtx): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(await c.req.parseBody())) if (typeof v === "string") out[k] = v;
  return out;
}

/**
 * Posts the action; on success goes to `then(result)`'s page, on a refusal re-renders the env
 * page with the API's own message (the caller's `renderEnv`), so nothing is half done or hidden.
 */
export function actionRoutes(
  app: ConsoleApp,
  cd: ConsoleDeps,
  renderEnv: (c: ConsoleCtx, name: string, error: ApiError) => Promise<Response>,
) {
  const act = async (c: ConsoleCtx, name: string, fn: () => Promise<string>) => {
    try {
      return c.redirect(await fn(), 303);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      return renderEnv(c, name, e);
    }
  };
  const invalid = (issues: z.ZodError) => new ApiError(400, "invalid", issues.issues[0]?.message ?? "invalid form");

  app.get("/envs/:name/deploy", async (c) => {
    const name = c.req.param("name");
    // The picker is a form a viewer could not submit: not drawn for them, as the page's buttons are not.
    if (!can(sessionOf(c).principal, "POST /environments/{name}/deployments"))
      return renderEnv(c, name, new ApiError(403, "forbidden", `only member users may deploy`));
    const env = await asUser<EnvDetail>(cd, c, "GET", apiEnv(name));
    try {
      return c.html(
        deployPage(sessionOf(c), env, await asUser<DeployChoices>(cd, c, "GET", `${apiEnv(name)}/commits`)),
      );
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      return renderEnv(c, name, e);
    }
  });

  app.post("/envs/:name/deployments", async (c) => {
    const name = c.req.param("name");
    return act(c, name, async () => {
      const f = DeployForm.safeParse(await formOf(c));
      if (!f.success) throw invalid(f.error);
      const [kind, ref] = [f.data.ref.slice(0, f.data.ref.indexOf(":")), f.data.ref.slice(f.data.ref.indexOf(":") + 1)];
      const out = await asUser<DeployOutcome>(cd, c, "POST", `${apiEnv(name)}/deployments`, {
        [kind === "sha" ? "sha" : "branch"]: ref,
      });
      if (out.dryRun) throw new ApiError(500, "internal", "the API answered a deploy with a plan");
      return pageOf(name, out.job);
    });
  });

  app.post("/envs/:name/rollback", async (c) => {
    const name = c.req.param("name");
    return act(c, name, async () => {
      const f = RollbackForm.safeParse(await formOf(c));
      if (!f.success) throw invalid(f.error);
      const out = await asUser<{ deployment: DeploymentView; job: JobView }>(
        cd,
        c,
        "POST",
        `${apiEnv(name)}/rollback`,
        {
          to: f.data.to,
          ...(f.data.db === "restore" ? { restoreDb: true } : f.data.db === "keep" ? { keepDb: true } : {}),
        },
      );
      return pageOf(name, out.job);
    });
  });

  app.post("/envs/:name/restore", async (c) => {
    const name = c.req.param("name");
    return act(c, name, async () => {
      const f = RestoreForm.safeParse(await formOf(c));
      if (!f.success) throw invalid(f.error);
      const out = await asUser<DbOperationResponse>(cd, c, "POST", `${apiEnv(name)}/db/restore`, {
        backup: f.data.backup,
        ...(f.data.confirm ? { confirm: f.data.confirm } : {}),
      });
      if (!out.job) throw new ApiError(500, "internal", "the API answered a restore without a job");
      return pageOf(name, out.job);
    });
  });

  // The clone route is the target's: `{name}` there is where the copy goes, `from` this env.
  app.post("/envs/:name/copy", async (c) => {
    const name = c.req.param("name");
    return act(c, name, async () => {
      const f = CopyForm.safeParse(await formOf(c));
      if (!f.success) throw invalid(f.error);
      const { target, anonymize, confirm } = f.data;
      const out = await asUser<DbOperationResponse>(cd, c, "POST", `${apiEnv(target)}/db/clone`, {
        from: name,
        ...(anonymize === "default" ? {} : { anonymize: anonymize === "yes" }),
        ...(confirm ? { confirm, forceProduction: true } : {}),
      });
      if (!out.job) throw new ApiError(500, "internal", "the API answered a copy without a job");
      return pageOf(target, out.job);
    });
  });
}
