/**
 * An agent's enrollment details (`--join-url`, `--join-token`), kept beside the config until the
 * agent has enrolled: `<config dir>/join.yaml`, 0600, the token sealed with the key file.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { z } from "zod";
import type { SecretBox } from "../auth/secretbox";
import { decryptConfigValues, ENCRYPTED_PREFIX } from "../config/load";
import type { Paths } from "../config/paths";
import { Invalid, Unavailable, issuesText } from "../errors";
import { fetchHealth } from "../doctor/daemon";
import { fetchPinnedCert } from "../fleet/coordinator-client";
import { decodeJoinToken, JOIN_TOKEN_PREFIX } from "../fleet/join-token";
import type { JoinAnswer } from "./answers";
import { writeFileAtomic } from "./config-file";

const JoinFile = z.object({ url: z.string().url(), token: z.string().min(1) }).strict();

export function joinFile(paths: Paths): string {
  return join(paths.configDir, "join.yaml");
}

export function readJoin(paths: Paths): JoinAnswer | null {
  const file = joinFile(paths);
  if (!existsSync(file)) return null;
  const raw = parse(readFileSync(file, "utf8")) as Record<string, never>;
  const parsed = JoinFile.safeParse(decryptConfigValues(raw ?? {}, paths.secretKeyFile, file));
  if (!parsed.success) throw new Invalid(`${file}: ${issuesText(parsed.error)}`);
  return parsed.data;
}

export function writeJoin(paths: Paths, j: JoinAnswer, box: SecretBox): void {
  writeFileAtomic(joinFile(paths), stringify({ url: j.url, token: `${ENCRYPTED_PREFIX}${box.seal(j.token)}` }));
}

export function removeJoin(paths: Paths): boolean {
  const file = joinFile(paths);
  if (!existsSync(file)) return false;
  rmSync(file);
  return true;
}

/**
 * The coordinator must answer before an agent is configured to depend on it. A fleet join token
 * (`odj_…`) names the agent API and pins its certificate: that is what is checked then.
 */
export async function checkCoordinator(url: string, token: string): Promise<void> {
  if (token.startsWith(JOIN_TOKEN_PREFIX)) {
    const parts = decodeJoinToken(token);
    if (parts.url.replace(/\/+$/, "") !== url.replace(/\/+$/, ""))
      throw new Invalid(`--join-url ${url} is not the coordinator this token was made for (${parts.url})`);
    await fetchPinnedCert(parts.url, parts.fingerprint);
    return;
  }
  const r = await fetchHealth(url, 10_000);
  if (!r.ok)
    throw new Unavailable(
      `the coordinator does not answer: ${r.error}; check --join-url and that this host can reach it`,
    );
  if (r.health.role === "agent") throw new Invalid(`${url} is an agent, not a coordinator: use the coordinator's URL`);
}
