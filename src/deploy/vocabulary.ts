/**
 * The deployment vocabulary, said once for the table and the API schema. No imports, so the
 * table may use it without tying state to a domain.
 */

export const DEPLOYMENT_KINDS = ["deploy", "rollback"] as const;

export const DEPLOYMENT_STATUSES = [
  "queued",
  "building",
  "testing",
  "awaiting_approval",
  "migrating",
  "switching",
  "success",
  "failed",
  "rejected",
  "cancelled",
] as const;
