import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Principal } from "../auth/service";

export type ApiEnv = { Variables: { principal: Principal; clientIp: string | null } };
export type Api = OpenAPIHono<ApiEnv>;
