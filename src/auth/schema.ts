import { z } from "@hono/zod-openapi";
import { ROLES } from "./roles";

const RoleSchema = z.enum(ROLES);

export const LoginRequest = z
  .object({ username: z.string().min(1).max(64), password: z.string().min(1).max(1024) })
  .openapi("LoginRequest");
export const LoginResponse = z
  .object({ token: z.string(), expiresAt: z.string(), username: z.string() })
  .openapi("LoginResponse");
export const WhoAmI = z
  .object({
    userId: z.string(),
    username: z.string(),
    role: RoleSchema,
    via: z.enum(["jwt", "token", "local"]),
    credentialId: z.string(),
  })
  .openapi("WhoAmI");
export const CreateTokenRequest = z
  .object({
    name: z.string().min(1).max(64),
    ttlDays: z
      .number()
      .int()
      .positive()
      .max(3650)
      .optional()
      .openapi({ description: "days until it expires (default 90)" }),
    role: RoleSchema.optional().openapi({ description: "at most the creator's role (default: the creator's role)" }),
  })
  .openapi("CreateTokenRequest");
export const CreatedToken = z
  .object({ id: z.string(), name: z.string(), role: RoleSchema, token: z.string(), expiresAt: z.string().nullable() })
  .openapi("CreatedToken");
export const TokenInfo = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: z.enum(["api", "local"]),
    role: RoleSchema.nullable(),
    createdAt: z.string(),
    lastUsedAt: z.string().nullable(),
    expiresAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
  })
  .openapi("TokenInfo");

export const SessionInfo = z
  .object({
    id: z.string(),
    createdAt: z.string(),
    expiresAt: z.string(),
    lastUsedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
    current: z.boolean(),
  })
  .openapi("SessionInfo");
const Password = z.string().min(8).max(1024);
export const ChangePasswordRequest = z
  .object({ current: z.string().min(1).max(1024), new: Password })
  .openapi("ChangePasswordRequest");
export const UserView = z
  .object({
    username: z.string(),
    role: RoleSchema,
    createdAt: z.string(),
    activeSessions: z.number(),
    activeTokens: z.number(),
  })
  .openapi("User");
export const CreateUserRequest = z
  .object({ username: z.string().min(2).max(32), password: Password, role: RoleSchema.default("member") })
  .openapi("CreateUserRequest");
export const SetRoleRequest = z.object({ role: RoleSchema }).openapi("SetRoleRequest");
export const ResetPasswordRequest = z.object({ password: Password }).openapi("ResetPasswordRequest");

export type LoginResponse = z.infer<typeof LoginResponse>;
export type WhoAmI = z.infer<typeof WhoAmI>;
export type CreatedToken = z.infer<typeof CreatedToken>;
export type TokenInfo = z.infer<typeof TokenInfo>;
export type SessionInfo = z.infer<typeof SessionInfo>;
export type UserView = z.infer<typeof UserView>;
