import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AuditService } from "../audit/service";
import type { SecretBox } from "../auth/secretbox";
import type { LoginThrottle } from "../auth/login-throttle";
import type { AuthService, Principal } from "../auth/service";
import type { Config } from "../config/schema";
import type { Paths } from "../config/paths";
import type { FleetService } from "../fleet/service";
import type { JobService } from "../jobs/service";
import type { Db } from "../state/db";

/** What route handlers may use: services only, never host adapters directly. */
export interface ApiDeps {
  db: Db;
  config: Config;
  paths: Paths;
  auth: AuthService;
  audit: AuditService;
  loginThrottle: LoginThrottle;
  box: SecretBox;
  jobs: JobService;
  fleet: FleetService;
  version: string;
  startedAt: number;
}

export type ApiEnv = { Variables: { principal: Principal; clientIp: string | null } };
export type Api = OpenAPIHono<ApiEnv>;
