/**
 * Prerequisites of a host that runs environments: docker, PostgreSQL and nginx, judged by the
 * same checks as `odooops doctor`; the missing ones installed with apt-get when allowed.
 */
import type { Paths } from "../config/paths";
import type { Config } from "../config/schema";
import type { Command } from "../exec/command";
import { run } from "../exec/run";
import { type CheckResult, runChecks } from "../doctor/check";
import { makeContext } from "../doctor/context";
import { dockerCheck } from "../doctor/docker";
import { nginxCheck } from "../doctor/nginx";
import { hostFitCheck } from "../doctor/host-fit";
import { pgDockerCheck, postgresCheck } from "../doctor/postgres";

export function checkPrerequisites(paths: Paths, config: Config): Promise<CheckResult[]> {
  return runChecks([dockerCheck, postgresCheck, nginxCheck], makeContext({ paths, config }));
}

/** After init's changes: the prerequisites, where containers reach PostgreSQL, and the tier limits on this host. */
export function checkHost(paths: Paths, config: Config): Promise<CheckResult[]> {
  return runChecks(
    [dockerCheck, postgresCheck, pgDockerCheck, nginxCheck, hostFitCheck],
    makeContext({ paths, config }),
  );
}

/** Debian packages that would fix the failed checks. */
export function missingPackages(results: CheckResult[]): string[] {
  return [...new Set(results.filter((r) => r.status === "fail").flatMap((r) => r.install ?? []))];
}

const APT_ENV = { DEBIAN_FRONTEND: "noninteractive" };

export function aptUpdate(): Command {
  return { argv: ["apt-get", "-q", "update"], env: APT_ENV, timeoutMs: 10 * 60_000 };
}

export function aptInstall(packages: string[]): Command {
  return { argv: ["apt-get", "-q", "-y", "install", ...packages], env: APT_ENV, timeoutMs: 30 * 60_000 };
}

export async function installPackages(packages: string[], onLine: (line: string) => void): Promise<void> {
  for (const cmd of [aptUpdate(), aptInstall(packages)]) await run(cmd, { onLine: (_s, l) => onLine(l) });
}
