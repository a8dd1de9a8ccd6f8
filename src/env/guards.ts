/** The checks every domain makes on an env's status before acting on it, worded one way. */
import { Conflict } from "../errors";
import type { Environment } from "./env.sql";
import { isCreated } from "./vocabulary";

type StatusOf = Pick<Environment, "slug" | "status" | "statusReason">;

/** `active`, or `failed (why)`: the status with its reason, as refusals show it. */
export function statusText(env: Pick<Environment, "status" | "statusReason">): string {
  return `${env.status}${env.statusReason ? ` (${env.statusReason})` : ""}`;
}

/**
 * Refuses an env that is not active or stopped (it has no database or files to act on):
 * "environment shop is failed (why); `refusal`". `subject` names the env's role ("source environment").
 */
export function requireCreated(env: StatusOf, refusal: string, subject = "environment"): void {
  if (!isCreated(env.status)) throw new Conflict(`${subject} ${env.slug} is ${statusText(env)}; ${refusal}`);
}
