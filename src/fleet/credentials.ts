/**
 * Agent credentials: `oda_<43 chars>`, a prefix of their own so one is never mistaken for a user's
 * API token (`odo_`); the coordinator keeps only the sha256 (hosts.credential_hash).
 */
import { randomBytes } from "node:crypto";

export const AGENT_CREDENTIAL_PREFIX = "oda_";

export function newAgentCredential(): string {
  return AGENT_CREDENTIAL_PREFIX + randomBytes(32).toString("base64url");
}
