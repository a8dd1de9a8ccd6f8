/**
 * Role rules. Every authenticated user may do everything except what is listed here; so far only
 * the manual-approval gate of deployments is reserved (to admins), since it exists to restrict who
 * lets a release through.
 */
import { Forbidden } from "../errors";
import type { Principal, Role } from "./service";

const RANK: Record<Role, number> = { viewer: 0, member: 1, admin: 2 };

export function requireRole(principal: Principal, role: Role, what: string): void {
  if (RANK[principal.role] < RANK[role]) throw new Forbidden(`only ${role} users may ${what}; ${principal.username} is ${principal.role}`);
}
