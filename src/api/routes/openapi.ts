import { z } from "@hono/zod-openapi";

/** Shorthands for route definitions: a JSON response / request body with a schema. */
export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

export function jsonBody<T extends z.ZodType>(schema: T) {
  return { required: true, content: { "application/json": { schema } } };
}

/**
 * `{name}` in a route's path as a non-empty string of at most `maxLength` characters. The explicit
 * `required` is needed: without it the OpenAPI document shows the parameter as optional.
 */
export function pathParam<K extends string>(name: K, maxLength: number) {
  const param = z
    .string()
    .min(1)
    .max(maxLength)
    .openapi({ param: { name, in: "path", required: true } });
  return z.object({ [name]: param } as Record<K, typeof param>);
}

/** A `true`/`false` query parameter, false when absent. */
export function queryFlag() {
  return z
    .enum(["true", "false"])
    .default("false")
    .transform((v) => v === "true");
}
