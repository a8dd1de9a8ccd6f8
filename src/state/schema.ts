export * from "../auth/auth.sql";
export * from "../fleet/fleet.sql";
export * from "../env/env.sql";
export * from "../deploy/deploy.sql";
export * from "../policy/policy.sql";
export * from "../audit/audit.sql";
export * from "../jobs/jobs.sql";
export * from "../db/backup.sql";
