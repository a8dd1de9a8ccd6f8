/** Projects & environments, one environment, create, back up now: reads and actions through the API. */
import { z } from "zod";
import type { BackupView } from "../../db/schema";
import type { DeploymentView } from "../../deploy/schema";
import type { EnvDetail, EnvSummary } from "../../env/schema";
import type { JobView } from "../../jobs/view";
import { ApiError } from "../api-call";
import { asUser, type ConsoleApp, type ConsoleCtx, type ConsoleDeps, sessionOf } from "../context";
import { CertExpiry } from "../cert-expiry";
import { overviewReader } from "../overview";
import { actionRoutes } from "./actions";
import { createPage, envPage } from "../views/env";
import { overviewPage } from "../views/overview";

const JobParam = z.object({
  job: z
    .string()
    .regex(/^[\w-]{1,64}$/)
    .optional(),
});
const CreateForm = z.object({
  name: z.string().trim().min(1, "a name is required").max(200),
  tier: z.string(),
  branch: z.string().trim().max(200).optional(),
});

const envPath = (name: string) => `/environments/${encodeURIComponent(name)}`;

async function renderEnv(cd: ConsoleDeps, c: ConsoleCtx, name: string, liveJob: string | null, error?: ApiError) {
  const s = sessionOf(c);
  const [env, deployments, candidates, backups, jobs, envs] = await Promise.all([
    asUser<EnvDetail>(cd, c, "GET", envPath(name)),
    asUser<DeploymentView[]>(cd, c, "GET", `${envPath(name)}/deployments?limit=100`),
    asUser<DeploymentView[]>(cd, c, "GET", `${envPath(name)}/rollback`),
    asUser<BackupView[]>(cd, c, "GET", `${envPath(name)}/backups?limit=20`),
    asUser<JobView[]>(cd, c, "GET", `/jobs?target=${encodeURIComponent(name)}&limit=10`),
    asUser<EnvSummary[]>(cd, c, "GET", "/environments"),
  ]);
  const live = liveJob ? await asUser<JobView>(cd, c, "GET", `/jobs/${encodeURIComponent(liveJob)}`) : null;
  const status = error ? (error.status as 400 | 403 | 404 | 409 | 429) : 200;
  const targets = envs.filter((t) => t.slug !== env.slug);
  return c.html(
    envPage(s, { env, deployments, candidates, backups, jobs, targets, live, error: error?.message }),
    status,
  );
}

export function envRoutes(app: ConsoleApp, cd: ConsoleDeps) {
  const overview = overviewReader(cd.deps, new CertExpiry(cd.deps.paths.certsDir));
  app.get("/", (c) => c.html(overviewPage(sessionOf(c), overview())));

  app.get("/envs/new", (c) => c.html(createPage(sessionOf(c))));

  app.post("/envs", async (c) => {
    const form = await c.req.parseBody();
    const str = (k: string) => (typeof form[k] === "string" ? (form[k] as string) : undefined);
    const parsed = CreateForm.safeParse({ name: str("name"), tier: str("tier"), branch: str("branch") || undefined });
    const echo = { name: str("name"), tier: str("tier"), branch: str("branch") };
    if (!parsed.success)
      return c.html(createPage(sessionOf(c), { ...echo, error: parsed.error.issues[0]?.message }), 400);
    try {
      const res = await asUser<{ env: { slug: string } | null; job: JobView | null }>(
        cd,
        c,
        "POST",
        "/environments",
        parsed.data,
      );
      const slug = res.env?.slug ?? parsed.data.name;
      return c.redirect(
        `/envs/${encodeURIComponent(slug)}${res.job ? `?job=${encodeURIComponent(res.job.id)}` : ""}`,
        303,
      );
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      return c.html(createPage(sessionOf(c), { ...echo, error: e.message }), e.status as 400 | 403 | 409);
    }
  });

  app.get("/envs/:name", async (c) => {
    const q = JobParam.safeParse(c.req.query());
    return renderEnv(cd, c, c.req.param("name"), q.success ? (q.data.job ?? null) : null);
  });

  actionRoutes(app, cd, (c, name, error) => renderEnv(cd, c, name, null, error));

  app.post("/envs/:name/backups", async (c) => {
    const name = c.req.param("name");
    try {
      const job = await asUser<JobView>(cd, c, "POST", `${envPath(name)}/backups`);
      return c.redirect(`/envs/${encodeURIComponent(name)}?job=${encodeURIComponent(job.id)}`, 303);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      return renderEnv(cd, c, name, null, e);
    }
  });
}
