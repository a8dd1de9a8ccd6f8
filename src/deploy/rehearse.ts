/**
 * The rehearsal: before the env's database is touched, the module update runs on a copy of it
 * (a throwaway role + database on the env's network) with the new image, and the new release
 * boots on that copy and must answer its health check. A broken migration, a release that
 * crashes on boot or one that never turns healthy is caught with the env's database unchanged.
 */
import { cloneDatabase, neutralizeDatabase } from "../db/backup";
import { pausePoint } from "../db/copies/pause";
import { envHost } from "../env/host";
import { runOdooOnce } from "../env/odoo-once";
import { envResources } from "../env/resources";
import type { Environment } from "../env/env.sql";
import { envDbLogin, scratchDbLogin } from "../env/tenant-login";
import { run } from "../exec/run";
import { databaseSize } from "../host/postgres";
import type { Deps } from "../deps";
import { stepLogger } from "../jobs/step-logger";
import type { GatePlan } from "../policy/gates";
import type { ModulePlan } from "./modules";
import { waitReleaseHealthy } from "./release";
import { bootOnScratch, withScratchDatabase } from "./scratch";
import { adminLogin } from "./source";
import { errorText } from "../errors";

interface Io {
  log(line: string): void;
  signal: AbortSignal;
}

/** A copy must never link back to the live site (mails, redirects). */
const REHEARSAL_URL = "http://rehearsal.invalid";

export function updateArgs(plan: ModulePlan): string[] {
  return [
    ...(plan.update.length > 0 ? ["-u", plan.update.map((u) => u.name).join(",")] : []),
    ...(plan.install.length > 0 ? ["-i", plan.install.join(",")] : []),
  ];
}

/**
 * Why the rehearsal is skipped (off, nothing to update, or a database too large for a gate that is
 * not required), or null when it runs. With no module to update or install there is no migration
 * to prove; a release that does not boot is caught by `start`, beside the serving one, before any
 * user reaches it.
 */
export async function rehearsalSkipped(
  deps: Deps,
  env: Environment,
  gate: GatePlan["migrations"],
  plan: ModulePlan,
): Promise<string | null> {
  if (!gate.run) return "deploy.rehearse is off and the policy declares no migrations gate";
  if (plan.update.length === 0 && plan.install.length === 0) return "no module to update or install";
  if (!gate.sizeCapped) return null;
  const size = await envHost(deps).withAdmin((sql) => databaseSize(sql, env.dbName));
  const maxBytes = deps.config.deploy.rehearseMaxDbMb * 1024 * 1024;
  if (size !== null && size > maxBytes)
    return `the database (${Math.round(size / 1048576)} MiB) is larger than deploy.rehearseMaxDbMb (${deps.config.deploy.rehearseMaxDbMb})`;
  return null;
}

/** `neutralize`: production's copy gets crons and mail servers off before any Odoo runs on it. */
export async function rehearse(
  deps: Deps,
  env: Environment,
  image: string,
  plan: ModulePlan,
  jobId: string,
  io: Io,
  opts: { neutralize: boolean },
): Promise<{ copy: string; boot: "healthy"; neutralized: boolean }> {
  return withScratchDatabase(
    deps,
    env,
    { purpose: "rehearse", jobId, log: io.log },
    async (s) => {
      const copied = await cloneDatabase({
        pg: adminLogin(deps),
        sourceLogin: envDbLogin(deps, env),
        sourceDb: env.dbName,
        targetDb: s.login.name,
        owner: scratchDbLogin(deps, s.login),
        log: stepLogger(io),
        signal: io.signal,
      });
      io.log(`copied ${env.dbName} to ${s.login.name} (${copied.method}: ${copied.reason})`);
      await pausePoint("scratch:after-copy");
      if (opts.neutralize) {
        const n = await neutralizeDatabase(scratchDbLogin(deps, s.login), { baseUrl: REHEARSAL_URL }, stepLogger(io));
        io.log(`neutralized the copy: ${n.cronsDisabled} crons and ${n.mailServersDisabled} mail servers off`);
      }
      const r = envResources(env, deps);
      const args = updateArgs(plan);
      if (args.length > 0) {
        const updated = await runOdooOnce(deps, env, {
          image,
          name: `${r.initContainer}-rehearse`,
          network: s.network,
          confFile: s.confFile,
          dataDir: s.dataDir,
          dbName: s.login.name,
          args,
          log: io.log,
          signal: io.signal,
        });
        if (updated.exitCode !== 0)
          throw new Error(
            `rehearsal: the module update failed on a copy of the database (exit ${updated.exitCode}); nothing was changed:\n${updated.failure}`,
          );
      }
      const host = envHost(deps);
      const name = `${r.initContainer}-rehearse-boot`;
      const { http } = await bootOnScratch(deps, env, s, name, image);
      try {
        // The rehearsal serves no user: its websockets are not asked for.
        await waitReleaseHealthy(deps, name, { http, longpoll: null }, s.login.name, io);
      } catch (err) {
        const logs = await run(host.docker.logs(name, { tail: 30 }), { nothrow: true });
        io.log(`last output of the rehearsal:\n${logs.stdout}${logs.stderr}`);
        throw new Error(
          `rehearsal: the new release does not boot healthy on a copy of the database; nothing was changed: ${errorText(err)}`,
        );
      } finally {
        await run(host.docker.rm(name, { force: true }), { nothrow: true });
      }
      io.log("rehearsal passed: the update and the boot work on a copy of the database");
      return { copy: s.login.name, boot: "healthy" as const, neutralized: opts.neutralize };
    },
    { empty: false },
  );
}
