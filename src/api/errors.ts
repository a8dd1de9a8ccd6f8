/**
 * The one error mapper: every failure leaves the API as `{error:{code,message,details?}}`.
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { HTTPException } from "hono/http-exception";
import { z } from "zod";
import { AppError, TooManyRequests, issuesText } from "../errors";
import { Log } from "../log";
import { displayText } from "../tenant-text";

const log = Log.create("api");

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "not_found" }),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi("Error");

export function errorBody(code: string, message: string, details?: unknown) {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

/** Every string of an error's details made safe too (a failed command's stderr, quoted input). */
function safeDetails(v: unknown): unknown {
  if (typeof v === "string") return displayText(v);
  if (Array.isArray(v)) return v.map(safeDetails);
  if (v !== null && typeof v === "object" && [Object.prototype, null].includes(Object.getPrototypeOf(v)))
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, safeDetails(x)]));
  return v;
}

export function onError(err: Error, c: Context) {
  if (err instanceof AppError) {
    if (err instanceof TooManyRequests) c.header("retry-after", String(err.retryAfterSec));
    // A refusal may quote what a tenant sent (a zip entry's name, a dump's manifest): shown on terminals.
    return c.json(
      errorBody(err.code, displayText(err.message), safeDetails(err.details)),
      err.status as ContentfulStatusCode,
    );
  }
  if (err instanceof HTTPException) {
    const code = err.status === 401 ? "unauthorized" : err.status === 413 ? "payload_too_large" : "http_error";
    return c.json(errorBody(code, err.message || "request failed"), err.status);
  }
  if (err instanceof z.ZodError) {
    return c.json(errorBody("invalid", issuesText(err), err.issues), 400);
  }
  log.error("unhandled error", { path: c.req.path, error: err.stack ?? String(err) });
  return c.json(errorBody("internal", "internal error; see the daemon log"), 500);
}

/** Validation failures of @hono/zod-openapi routes go through the same shape. */
export function validationHook(result: { success: boolean; error?: z.ZodError }, c: Context) {
  if (!result.success && result.error) {
    return c.json(errorBody("invalid", issuesText(result.error), result.error.issues), 400);
  }
}
