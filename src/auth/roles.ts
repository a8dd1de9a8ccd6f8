/**
 * Roles rank admin > member > viewer. What each role may do is declared in one table,
 * src/api/permissions.ts; this file only compares roles.
 */
import { Forbidden } from "../errors";

export const ROLES = ["admin", "member", "viewer"] as const;
export type Role = (typeof ROLES)[number];

const RANK: Record<Role, number> = { viewer: 0, member: 1, admin: 2 };

export function roleAtLeast(have: Role, need: Role): boolean {
  return RANK[have] >= RANK[need];
}

/** The lower of two roles: a token never does more than its owner may do now. */
export function lowerRole(a: Role, b: Role): Role {
  return RANK[a] <= RANK[b] ? a : b;
}

export function requireRole(principal: { username: string; role: Role }, role: Role, what: string): void {
  if (!roleAtLeast(principal.role, role))
    throw new Forbidden(`only ${role} users may ${what}; ${principal.username} is ${principal.role}`);
}
