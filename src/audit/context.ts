/**
 * What the API knows about the request being served, visible to AuditService.record without
 * threading it through every service: the client IP, and whether the request already wrote its
 * own (more precise) audit row so the middleware does not add a generic one.
 */
import { AsyncLocalStorage } from "node:async_hooks";

export interface AuditRequestContext {
  ip: string | null;
  recorded: boolean;
}

export const auditContext = new AsyncLocalStorage<AuditRequestContext>();
