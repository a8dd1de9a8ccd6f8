/**
 * What an enrolled agent keeps: its host id and credential, and the coordinator it pinned.
 * `<data dir>/state/agent.json`, 0600 (the credential is the agent's whole authority).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import type { Paths } from "../config/paths";
import { Invalid } from "../errors";
import { writeFileAtomic } from "../init/config-file";

const AgentStateSchema = z
  .object({
    hostId: z.string().min(1),
    name: z.string().min(1),
    url: z.url(),
    fingerprint: z.string().min(1),
    certPem: z.string().min(1),
    credential: z.string().min(1),
  })
  .strict();

export type AgentState = z.infer<typeof AgentStateSchema>;

export function agentStateFile(paths: Paths): string {
  return join(paths.dataDir, "state", "agent.json");
}

export function readAgentState(paths: Paths): AgentState | null {
  const file = agentStateFile(paths);
  if (!existsSync(file)) return null;
  const parsed = AgentStateSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
  if (!parsed.success) throw new Invalid(`${file}: not an odooops agent state file; remove it and join again`);
  return parsed.data;
}

export function writeAgentState(paths: Paths, state: AgentState): void {
  const file = agentStateFile(paths);
  writeFileAtomic(file, `${JSON.stringify(state, null, 2)}\n`, 0o600);
}
