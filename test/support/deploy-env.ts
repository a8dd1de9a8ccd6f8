/**
 * Test harness for deploy tests: a host (startEnvHost), an addons repository registered as the
 * default project's, one environment created from it, and the API calls every deploy test makes.
 * With `agent: false` jobs run only when the test runs them (runJob / crashThenResume).
 */
import { expect } from "bun:test";
import { eq } from "drizzle-orm";
import type { DeployOutcome, DeploymentView } from "../../src/deploy/schema";
import { environments } from "../../src/env/env.sql";
import { pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { makeRepo, type TestRepo } from "../git/repo";
import { runJob } from "./agents";
import { removeByLabel } from "./docker";
import { startEnvHost } from "./env-host";
import { makeTempDir, removeTempDir } from "./tmp";

export const shopManifest = (version: string, extra = "") =>
  `{'name': 'Shop extra', 'version': '${version}', 'depends': ['base'],${extra}}\n`;

export interface DeployEnvOptions {
  env: { name: string; tier: "dev" | "staging" | "production" };
  /** The repository's first commit. */
  files: Record<string, string>;
  agent?: boolean;
  configOverrides?: Record<string, unknown>;
}

export type DeployEnv = Awaited<ReturnType<typeof startDeployEnv>>;

export async function startDeployEnv(opts: DeployEnvOptions) {
  const host = await startEnvHost({ agent: opts.agent, configOverrides: opts.configOverrides });
  const repoDir = makeTempDir("odooops-deploy-repo-");
  let envId = "";
  const stop = async () => {
    if (envId) await removeByLabel(`odooops.env=${envId}`);
    await host.stop();
    removeTempDir(repoDir);
  };

  const api = (method: string, path: string, body?: unknown, token?: string): Promise<Response> =>
    host.api.request(`/api/v1${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(token ? { token } : {}),
    });
  const waitJob = (jobId: string): Promise<JobView> =>
    opts.agent === false ? runJob(host, jobId) : host.waitJob(jobId, 300_000);

  try {
    const repo: TestRepo = await makeRepo(repoDir);
    await repo.commit(opts.files);
    expect((await api("PUT", "/projects/default", { repoUrl: repo.url })).status).toBe(200);
    const res = await api("POST", "/environments", opts.env);
    expect(res.status).toBe(202);
    const created = (await res.json()) as { job: JobView; env: { slug: string } };
    const slug = created.env.slug;
    const envRow = () => host.deps.db.select().from(environments).where(eq(environments.slug, slug)).get()!;
    envId = envRow().id;
    expect((await waitJob(created.job.id)).error).toBeNull();

    const deployment = async (id: string): Promise<DeploymentView> =>
      (await (await api("GET", `/deployments/${id}`)).json()) as DeploymentView;
    const queueDeploy = async (
      body: Record<string, unknown> = {},
    ): Promise<{ deployment: DeploymentView; job: JobView }> => {
      const r = await api("POST", `/environments/${slug}/deployments`, body);
      expect(r.status).toBe(202);
      const out = (await r.json()) as DeployOutcome;
      if (out.dryRun) throw new Error("unexpected dry run");
      return out;
    };

    return {
      host,
      repo,
      slug,
      envId,
      api,
      envRow,
      waitJob,
      deployment,
      queueDeploy,
      /** Queues a deploy, runs it to the end; the deployment as it ended and its job. */
      async deploy(body: Record<string, unknown> = {}): Promise<{ d: DeploymentView; job: JobView }> {
        const out = await queueDeploy(body);
        const job = await waitJob(out.job.id);
        return { d: await deployment(out.deployment.id), job };
      },
      jobLog: (jobId: string): string => host.deps.jobs.logs.read(jobId, 0, 16 * 1024 * 1024).text,
      /** `latest_version` of an installed module in the env's database. */
      async moduleVersion(module = "shop_extra"): Promise<string | undefined> {
        const sql = pgConnect({
          host: host.pg.host,
          port: host.pg.port,
          user: host.pg.user,
          password: host.pg.password,
          database: envRow().dbName,
        });
        try {
          return (
            await sql<
              { v: string }[]
            >`SELECT latest_version AS v FROM ir_module_module WHERE name = ${module} AND state = 'installed'`
          )[0]?.v;
        } finally {
          await sql.close();
        }
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
