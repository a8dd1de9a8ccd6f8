import { createRoute, z } from "@hono/zod-openapi";
import { listBackups, startDbBackup } from "../../db/backups";
import { randomBytes } from "node:crypto";
import { mkdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { deleteExport, finishedExport, startDbExport } from "../../db/export-job";
import { listExports, sweepExports } from "../../db/export-sweep";
import { checkFilestoreTar } from "../../db/filestore-tar";
import { startDbImport, filestoreUploadPath, importsDir, planImport } from "../../db/import-job";
import { startDbMigrate } from "../../db/migrate-job";
import { sniffUpload } from "../../db/odoo-zip";
import { saveUpload } from "../../db/upload";
import { Invalid, NotFound } from "../../errors";
import { startDbClone, startDbRestore } from "../../db/restores";
import {
  AnonymizeDetectReport,
  AnonymizeRulesCheck,
  AnonymizeRulesCheckRequest,
  BackupListQuery,
  BackupView,
  CloneRequest,
  DbOperationResponse,
  ExportView,
  RestoreRequest,
} from "../../db/schema";
import { checkAnonymizeRules } from "../../db/backup";
import { detectForEnv } from "../../db/anonymize/detect";
import { cloneAnonymizationPreview } from "../../db/anonymize/dry-run";
import type { Principal } from "../../auth/service";
import { findEnv } from "../../env/lookup";
import { JobView } from "../../jobs/view";
import { keepOpen } from "../conn";
import type { Api } from "../deps";
import type { CoordinatorDeps } from "../../deps";
import { requireForEnv } from "../permissions";
import { ErrorSchema } from "../errors";
import { json, jsonBody, pathParam } from "./openapi";

const nameParam = pathParam("name", 200);

const create = createRoute({
  method: "post",
  path: "/environments/{name}/backups",
  tags: ["backups"],
  summary: "Back up an environment's database and filestore (a job), then apply retention",
  request: { params: nameParam },
  responses: {
    202: json(JobView, "queued"),
    400: json(ErrorSchema, "no backup target configured"),
    404: json(ErrorSchema, "no such environment"),
    409: json(ErrorSchema, "not in a state for this"),
  },
});
const list = createRoute({
  method: "get",
  path: "/environments/{name}/backups",
  tags: ["backups"],
  summary: "An environment's backups, newest first: status, size, where, and when retention deletes them",
  request: { params: nameParam, query: BackupListQuery },
  responses: { 200: json(z.array(BackupView), "backups"), 404: json(ErrorSchema, "no such environment") },
});
const operationResponses = {
  202: json(DbOperationResponse, "queued"),
  200: json(DbOperationResponse, "dry run: the plan, nothing changed"),
  400: json(ErrorSchema, "invalid, or production without forceProduction"),
  404: json(ErrorSchema, "no such environment or backup"),
  409: json(ErrorSchema, "an environment is not active or stopped"),
};
const restore = createRoute({
  method: "post",
  path: "/environments/{name}/db/restore",
  tags: ["backups"],
  summary:
    "Replace the environment's database and filestore with a backup (its own, or another env's with `from`), as a job",
  request: { params: nameParam, body: jsonBody(RestoreRequest) },
  responses: operationResponses,
});
const clone = createRoute({
  method: "post",
  path: "/environments/{name}/db/clone",
  tags: ["backups"],
  summary: "Replace the environment's database and filestore with a copy of another environment's, as a job",
  request: { params: nameParam, body: jsonBody(CloneRequest) },
  responses: operationResponses,
});

const migrate = createRoute({
  method: "post",
  path: "/environments/{name}/db/migrate",
  tags: ["backups"],
  summary:
    "Update the modules whose installed version differs from the serving image's (production is backed up first), as a job; dryRun: the job only reports the plan",
  request: { params: nameParam, body: jsonBody(z.object({ dryRun: z.boolean().optional() })) },
  responses: {
    202: json(JobView, "queued"),
    400: json(ErrorSchema, "no backup target for production"),
    404: json(ErrorSchema, "no such environment"),
    409: json(ErrorSchema, "not active or stopped"),
  },
});

const exportDb = createRoute({
  method: "post",
  path: "/environments/{name}/db/export",
  tags: ["backups"],
  summary:
    "Write the database and filestore as the zip Odoo's database manager imports (a job); download it from /exports/{id}",
  request: { params: nameParam },
  responses: {
    202: json(JobView, "queued"),
    404: json(ErrorSchema, "no such environment"),
    409: json(ErrorSchema, "not active or stopped"),
  },
});
const exportParam = pathParam("id", 100);
const downloadExport = createRoute({
  method: "get",
  path: "/exports/{id}",
  tags: ["backups"],
  summary: "Download a finished export (application/zip)",
  request: { params: exportParam },
  responses: {
    200: {
      description: "the zip",
      content: { "application/zip": { schema: z.string().openapi({ format: "binary" }) } },
    },
    404: json(ErrorSchema, "no such finished export"),
  },
});
const removeExport = createRoute({
  method: "delete",
  path: "/exports/{id}",
  tags: ["backups"],
  summary: "Delete an export's file (after downloading it)",
  request: { params: exportParam },
  responses: { 204: { description: "deleted (or already gone)" }, 400: json(ErrorSchema, "invalid id") },
});
const listExportsRoute = createRoute({
  method: "get",
  path: "/exports",
  tags: ["backups"],
  summary: "Finished exports still on the host (not downloaded and deleted yet), oldest first, with when they expire",
  responses: { 200: json(z.array(ExportView), "exports") },
});
const cleanExports = createRoute({
  method: "post",
  path: "/exports/clean",
  tags: ["backups"],
  summary: "Delete the expired exports now (all: every finished export); returns what was deleted",
  request: { body: jsonBody(z.object({ all: z.boolean().optional() })) },
  responses: { 200: json(z.array(ExportView), "deleted") },
});
const checkRules = createRoute({
  method: "post",
  path: "/anonymize-rules/validate",
  tags: ["backups"],
  summary:
    "Check a project's .odooops/anonymize.yaml: every problem with file:line: key, or the rules a copy would get (defaults with the file merged over them)",
  request: { body: jsonBody(AnonymizeRulesCheckRequest) },
  responses: { 200: json(AnonymizeRulesCheck, "the check") },
});
const detect = createRoute({
  method: "get",
  path: "/environments/{name}/db/anonymize-detect",
  tags: ["backups"],
  summary:
    "Columns of the environment's database that look personal (by name, or by a sample of rows) and that no anonymization rule covers; names and counts only",
  request: { params: nameParam },
  responses: {
    200: json(AnonymizeDetectReport, "the findings"),
    400: json(ErrorSchema, "invalid rules file"),
    404: json(ErrorSchema, "no such environment"),
  },
});
const flag = z.enum(["true", "false"]).optional();
const importDb = createRoute({
  method: "post",
  path: "/environments/{name}/db/import",
  tags: ["backups"],
  summary:
    "Replace the environment's database and filestore with an uploaded Odoo export zip or pg_dump -Fc .dump (the body), as a job",
  request: {
    params: nameParam,
    query: z.object({
      keepOld: flag,
      neutralize: flag,
      forceProduction: flag,
      confirm: z.string().max(200).optional().openapi({ description: "the env's name: required for production" }),
      filestore: z
        .string()
        .regex(/^[0-9a-f]{32}$/)
        .optional()
        .openapi({ description: "a .dump's filestore: the id from POST …/db/import/filestore" }),
    }),
    body: {
      required: true,
      content: { "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) } },
    },
  },
  responses: {
    202: json(JobView, "queued"),
    400: json(ErrorSchema, "not a zip or dump, production without forceProduction, or not enough free space"),
    404: json(ErrorSchema, "no such environment"),
    409: json(ErrorSchema, "not active or stopped"),
    413: json(ErrorSchema, "larger than imports.maxUploadMb"),
  },
});

const importFilestore = createRoute({
  method: "post",
  path: "/environments/{name}/db/import/filestore",
  tags: ["backups"],
  summary:
    "Upload the filestore (a tar of ab/ab12… files) for a following import of a .dump; checked now, used by …/db/import?filestore=<id>",
  request: {
    params: nameParam,
    body: {
      required: true,
      content: { "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) } },
    },
  },
  responses: {
    201: json(
      z.object({ filestore: z.string(), entries: z.number().int(), bytes: z.number().int() }),
      "stored and checked",
    ),
    400: json(ErrorSchema, "not a safe tar (links, absolute or .. paths, over imports.maxZipEntries / maxUnpackedMb)"),
    404: json(ErrorSchema, "no such environment"),
    413: json(ErrorSchema, "larger than imports.maxUploadMb"),
  },
});

const asFlag = (v: "true" | "false" | undefined) => (v === undefined ? undefined : v === "true");

export function backupRoutes(app: Api, deps: CoordinatorDeps) {
  // Content-Length, when it is a plain number, lets saveUpload refuse a too large upload before reading it.
  const saveBody = (body: ReadableStream<Uint8Array>, path: string, declared: string | undefined) =>
    saveUpload(body, path, {
      maxBytes: deps.config.imports.maxUploadMb * 1024 * 1024,
      declaredBytes: declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : null,
    });
  app.openapi(create, (c) => c.json(startDbBackup(deps, c.req.valid("param").name, c.get("principal").username), 202));
  app.openapi(list, (c) => {
    const q = c.req.valid("query");
    return c.json(listBackups(deps, c.req.valid("param").name, q.limit, q.includeDestroyed === "true"), 200);
  });
  // Replacing production's data is admin work whatever the route's own rule (permissions.ts).
  const tierGuard = (p: Principal, action: "restore" | "clone" | "import", name: string) =>
    requireForEnv(deps.db, p, action, name);
  app.openapi(restore, (c) => {
    tierGuard(c.get("principal"), "restore", c.req.valid("param").name);
    const out = startDbRestore(deps, c.req.valid("param").name, c.req.valid("json"), c.get("principal").username);
    return out.dryRun ? c.json(out, 200) : c.json(out, 202);
  });
  app.openapi(clone, async (c) => {
    tierGuard(c.get("principal"), "clone", c.req.valid("param").name);
    const req = c.req.valid("json");
    const out = startDbClone(deps, c.req.valid("param").name, req, c.get("principal").username);
    if (!out.dryRun) return c.json(out, 202);
    // What each rule would change, counted on the source (read-only, as its own role): only
    // where its database is, on this host.
    const source = findEnv(deps.db, out.plan.source.slug);
    const here = deps.fleet.envHost(source).id === deps.fleet.localHostId;
    if (req.preview === true && out.plan.anonymize && here)
      out.plan.anonymization = await cloneAnonymizationPreview(deps, source, req.rules);
    return c.json(out, 200);
  });
  app.openapi(detect, async (c) => c.json(await detectForEnv(deps, findEnv(deps.db, c.req.valid("param").name)), 200));
  app.openapi(exportDb, (c) =>
    c.json(startDbExport(deps, c.req.valid("param").name, c.get("principal").username), 202),
  );
  app.openapi(downloadExport, async (c) => {
    const { path, size } = await finishedExport(deps.paths, c.req.valid("param").id);
    // A large zip to a slow client can stall on backpressure longer than the idle timeout.
    keepOpen(c);
    return new Response(Bun.file(path).stream(), {
      status: 200,
      headers: { "content-type": "application/zip", "content-length": String(size) },
    });
  });
  app.openapi(checkRules, (c) => {
    const { text, file } = c.req.valid("json");
    const r = checkAnonymizeRules(text, file);
    return c.json(
      r.ok ? { ok: true, problems: [], rules: r.rules } : { ok: false, problems: r.problems, rules: null },
      200,
    );
  });
  app.openapi(listExportsRoute, async (c) => c.json(await listExports(deps), 200));
  app.openapi(cleanExports, async (c) => {
    const all = c.req.valid("json").all === true;
    const deleted = await sweepExports(deps, new Date(), { all });
    deps.audit.record({
      actor: c.get("principal").username,
      action: "db.exports.clean",
      target: null,
      details: { all, deleted: deleted.map((e) => e.id) },
    });
    return c.json(deleted, 200);
  });
  app.openapi(removeExport, async (c) => {
    await deleteExport(deps.paths, c.req.valid("param").id);
    return c.body(null, 204);
  });
  app.openapi(importDb, async (c) => {
    const q = c.req.valid("query");
    // Checked before the upload is read: a refused import costs no transfer.
    tierGuard(c.get("principal"), "import", c.req.valid("param").name);
    const params = planImport(deps, c.req.valid("param").name, {
      keepOld: asFlag(q.keepOld),
      neutralize: asFlag(q.neutralize),
      forceProduction: asFlag(q.forceProduction),
      confirm: q.confirm,
    });
    const body = c.req.raw.body;
    if (!body) throw new Invalid("the request body must be the file to import");
    const dir = importsDir(deps.paths);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const partial = join(dir, `${params.slug}-${params.token}.partial`);
    try {
      await saveBody(body, partial, c.req.header("content-length"));
      const format = await sniffUpload(partial);
      const upload = join(dir, `${params.slug}-${params.token}.${format}`);
      await rename(partial, upload);
      const filestore = q.filestore === undefined ? null : filestoreUploadPath(deps.paths, params.slug, q.filestore);
      try {
        if (filestore !== null && !(await Bun.file(filestore).exists()))
          throw new NotFound(`no uploaded filestore ${q.filestore} for ${params.slug}`);
        if (filestore !== null && format === "zip")
          throw new Invalid("--filestore goes with a .dump: an Odoo export zip carries its own filestore");
        return c.json(startDbImport(deps, { ...params, upload, format, filestore }, c.get("principal").username), 202);
      } catch (e) {
        await rm(upload, { force: true });
        if (filestore !== null) await rm(filestore, { force: true });
        throw e;
      }
    } finally {
      await rm(partial, { force: true });
    }
  });
  app.openapi(importFilestore, async (c) => {
    const name = c.req.valid("param").name;
    const env = tierGuard(c.get("principal"), "import", name);
    const body = c.req.raw.body;
    if (!body) throw new Invalid("the request body must be the filestore tar");
    await mkdir(importsDir(deps.paths), { recursive: true, mode: 0o700 });
    const id = randomBytes(16).toString("hex");
    const path = filestoreUploadPath(deps.paths, env.slug, id);
    await saveBody(body, path, c.req.header("content-length"));
    try {
      const MiB = 1024 * 1024;
      const checked = await checkFilestoreTar(path, {
        maxEntries: deps.config.imports.maxZipEntries,
        maxUnpackedBytes: deps.config.imports.maxUnpackedMb * MiB,
      });
      return c.json({ filestore: id, entries: checked.entries.length, bytes: checked.bytes }, 201);
    } catch (e) {
      await rm(path, { force: true });
      throw e;
    }
  });
  app.openapi(migrate, (c) =>
    c.json(
      startDbMigrate(
        deps,
        c.req.valid("param").name,
        { dryRun: c.req.valid("json").dryRun === true },
        c.get("principal").username,
      ),
      202,
    ),
  );
}

/** The route definitions, for the CLI's typed client (src/cli/api.ts): paths, bodies, responses. */
export type BackupRoutes =
  | typeof create
  | typeof list
  | typeof restore
  | typeof clone
  | typeof detect
  | typeof exportDb
  | typeof downloadExport
  | typeof checkRules
  | typeof listExportsRoute
  | typeof cleanExports
  | typeof removeExport
  | typeof importDb
  | typeof importFilestore
  | typeof migrate;
