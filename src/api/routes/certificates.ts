import { createRoute, z } from "@hono/zod-openapi";
import { CertificateView, ImportRequest, RenewOutcome, RenewRequest } from "../../certs/schema";
import { listCertificates, startCertsRenew, startCertsImport } from "../../certs/service";
import { JobView } from "../../jobs/view";
import type { Api } from "../deps";
import type { CoordinatorDeps } from "../../deps";
import { ErrorSchema } from "../errors";
import { json, jsonBody } from "./openapi";

const list = createRoute({
  method: "get",
  path: "/certificates",
  tags: ["certificates"],
  summary:
    "Certificates of env domains (stored, and missing for envs whose tier gets TLS): source, serial, expiry, status",
  responses: { 200: json(z.array(CertificateView), "certificates") },
});
const renew = createRoute({
  method: "post",
  path: "/certificates/renew",
  tags: ["certificates"],
  summary: "Queue certificate jobs for one env or every env that needs one; never a second job while one is pending",
  request: { body: jsonBody(RenewRequest) },
  responses: {
    202: json(RenewOutcome, "jobs queued"),
    200: json(RenewOutcome, "nothing to queue"),
    400: json(ErrorSchema, "ACME is not configured"),
    404: json(ErrorSchema, "no such environment"),
    409: json(ErrorSchema, "the environment cannot have a certificate now"),
  },
});
const importCert = createRoute({
  method: "post",
  path: "/certificates/import",
  tags: ["certificates"],
  summary: "Bring your own certificate for an env: validated now, then stored and served (a job)",
  request: { body: jsonBody(ImportRequest) },
  responses: {
    202: json(JobView, "queued"),
    400: json(ErrorSchema, "not a valid certificate and key for the env's domain"),
    404: json(ErrorSchema, "no such environment"),
    409: json(ErrorSchema, "the environment cannot have a certificate now"),
  },
});

export function certificateRoutes(app: Api, deps: CoordinatorDeps) {
  app.openapi(list, (c) => c.json(listCertificates(deps), 200));
  app.openapi(renew, (c) => {
    const out = startCertsRenew(deps, c.req.valid("json"), c.get("principal").username);
    return out.queued.length > 0 ? c.json(out, 202) : c.json(out, 200);
  });
  app.openapi(importCert, (c) => c.json(startCertsImport(deps, c.req.valid("json"), c.get("principal").username), 202));
}

/** The route definitions, for the CLI's typed client (src/cli/api.ts): paths, bodies, responses. */
export type CertificateRoutes = typeof list | typeof renew | typeof importCert;
