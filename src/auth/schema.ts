import { z } from "@hono/zod-openapi";

export const LoginRequest = z
  .object({ username: z.string().min(1).max(64), password: z.string().min(1).max(1024) })
  .openapi("LoginRequest");
export const LoginResponse = z
  .object({ token: z.string(), expiresAt: z.string(), username: z.string() })
  .openapi("LoginResponse");
export const WhoAmI = z
  .object({ userId: z.string(), username: z.string(), role: z.enum(["admin", "member", "viewer"]), via: z.enum(["jwt", "token", "local"]) })
  .openapi("WhoAmI");
export const CreateTokenRequest = z
  .object({ name: z.string().min(1).max(64), ttlDays: z.number().int().positive().max(3650).optional() })
  .openapi("CreateTokenRequest");
export const CreatedToken = z
  .object({ id: z.string(), name: z.string(), token: z.string(), expiresAt: z.string().nullable() })
  .openapi("CreatedToken");
export const TokenInfo = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: z.enum(["api", "local"]),
    createdAt: z.string(),
    lastUsedAt: z.string().nullable(),
    expiresAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
  })
  .openapi("TokenInfo");

export type LoginResponse = z.infer<typeof LoginResponse>;
export type WhoAmI = z.infer<typeof WhoAmI>;
export type CreatedToken = z.infer<typeof CreatedToken>;
export type TokenInfo = z.infer<typeof TokenInfo>;
