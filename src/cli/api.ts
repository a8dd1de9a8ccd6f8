/**
 * The API's contract as the CLI sees it, derived from the server's own route definitions
 * (type imports only: nothing of the server is loaded into the CLI). A route's path template
 * names it; its request and response types come from the zod schemas the server validates with,
 * so no response type is written twice and a changed schema breaks the CLI's compile.
 */
import type { z } from "@hono/zod-openapi";
import type { AuditRoutes } from "../api/routes/audit";
import type { AuthRoutes } from "../api/routes/auth";
import type { BackupRoutes } from "../api/routes/backups";
import type { CertificateRoutes } from "../api/routes/certificates";
import type { DeploymentRoutes } from "../api/routes/deployments";
import type { DrRoutes } from "../api/routes/dr";
import type { EnvironmentRoutes } from "../api/routes/environments";
import type { HealthRoutes } from "../api/routes/health";
import type { HostRoutes } from "../api/routes/hosts";
import type { JobRoutes } from "../api/routes/jobs";
import type { MetricsRoutes } from "../api/routes/metrics";
import type { PolicyRoutes } from "../api/routes/policies";
import type { ProjectRoutes } from "../api/routes/projects";
import type { ReportRoutes } from "../api/routes/report";
import type { UserRoutes } from "../api/routes/users";
import type { WebhookRoutes } from "../api/routes/webhooks";

export type ApiRoute =
  | AuditRoutes
  | AuthRoutes
  | BackupRoutes
  | CertificateRoutes
  | DeploymentRoutes
  | DrRoutes
  | EnvironmentRoutes
  | HealthRoutes
  | HostRoutes
  | JobRoutes
  | MetricsRoutes
  | PolicyRoutes
  | ProjectRoutes
  | ReportRoutes
  | UserRoutes
  | WebhookRoutes;

export type Method = ApiRoute["method"];
/** The path templates of a method's routes, e.g. `/jobs/{id}` for "get". */
export type PathOf<M extends Method> = Extract<ApiRoute, { method: M }>["path"];
export type RouteOf<M extends Method, P extends string> = Extract<ApiRoute, { method: M; path: P }>;

/** `{id: string}` for `/jobs/{id}/cancel`: the path's own placeholders, always strings. */
export type ParamsOf<P extends string> = P extends `${string}{${infer K}}${infer Rest}`
  ? { [k in K]: string } & ParamsOf<Rest>
  : unknown;

type JsonSchema<C> = C extends { content: { "application/json": { schema: infer S extends z.ZodType } } } ? S : never;
type Successes<R> = R extends { responses: infer Rs } ? Rs[Extract<keyof Rs, 200 | 201 | 202 | 204>] : never;

/** What a route answers on success: the output of its 2xx JSON schemas (undefined for 204). */
export type ResponseOf<M extends Method, P extends string> =
  Successes<RouteOf<M, P>> extends infer C
    ? C extends { content: unknown }
      ? z.output<JsonSchema<C>>
      : undefined
    : never;

/** The JSON body a route validates, as the caller writes it (before defaults and coercion). */
export type BodyOf<M extends Method, P extends string> =
  RouteOf<M, P> extends { request: { body: infer B } } ? z.input<JsonSchema<B>> : undefined;

export type QueryOf<M extends Method, P extends string> =
  RouteOf<M, P> extends { request: { query: infer Q extends z.ZodType } } ? z.input<Q> : undefined;
