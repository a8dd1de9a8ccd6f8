/** `odooops doctor`: every check, in report order. */
import { type Check, type CheckResult, runChecks, skip, summarize, type Summary } from "./check";
import { certsCheck } from "./certs";
import type { DoctorContext } from "./context";
import { dockerLimitsCheck, pgContainerCheck } from "./containers";
import { daemonCheck } from "./daemon";
import { diskCheck } from "./disk";
import { dockerCheck, imageCheck } from "./docker";
import { hostFitCheck } from "./host-fit";
import { httpPortCheck, httpsPortCheck, nginxCheck } from "./nginx";
import { pgClientsCheck } from "./pg-clients";
import { pgDockerCheck, pgHbaCheck, postgresCheck } from "./postgres";
import { pgTenantCheck } from "./pg-tenant";
import { acmeCheck, clockCheck, s3Check } from "./remote";
import { configCheck, stateCheck } from "./state";

/** Docker, PostgreSQL and nginx serve environments: a coordinator-only host has none. */
export function onEnvHosts(check: Check): Check {
  return {
    ...check,
    run: (ctx) =>
      ctx.config?.role === "coordinator"
        ? Promise.resolve(skip("coordinator: environments run on the agents"))
        : check.run(ctx),
  };
}

export const DOCTOR_CHECKS: Check[] = [
  configCheck,
  stateCheck,
  daemonCheck,
  ...[
    dockerCheck,
    imageCheck,
    dockerLimitsCheck,
    hostFitCheck,
    postgresCheck,
    pgHbaCheck,
    pgTenantCheck,
    pgDockerCheck,
    pgContainerCheck,
    pgClientsCheck,
    nginxCheck,
    httpPortCheck,
    httpsPortCheck,
  ].map(onEnvHosts),
  diskCheck,
  acmeCheck,
  clockCheck,
  s3Check,
  certsCheck,
];

export interface DoctorReport extends Summary {
  checks: CheckResult[];
}

export async function runDoctor(ctx: DoctorContext, checks: Check[] = DOCTOR_CHECKS): Promise<DoctorReport> {
  const results = await runChecks(checks, ctx);
  return { ...summarize(results), checks: results };
}

export { loadContext, makeContext, type DoctorContext } from "./context";
export { renderReport, type CheckResult, type CheckStatus } from "./check";
