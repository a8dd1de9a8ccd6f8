/**
 * The target's half of a relayed transfer: the pack is downloaded through the coordinator, file
 * by file, each with its own one-time ticket (src/fleet/transfer-relay.ts), into this host's
 * incoming transfer directory, then restored from there like a local backup — against the
 * manifest the coordinator's state recorded, so every byte is checked (size + sha256) as the S3
 * path checks it. The caller removes the directory once the restore read it, or failed.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Deps } from "../../deps";
import { Invalid } from "../../errors";
import { MANIFEST_FILE, PART_FILES } from "../backup/layout";
import type { BackupSource } from "../backup/source";
import type { RelayTransfer } from "../transfer";
import { dropTransferDir, incomingDir } from "./relay-dir";

/** The manifest first: a pack whose manifest cannot be had is not worth its parts. */
const FILES = [MANIFEST_FILE, PART_FILES.db, PART_FILES.filestore];

export const relayedDir = (deps: Pick<Deps, "paths">, t: RelayTransfer) =>
  incomingDir(deps.paths, t.relay.slug, t.relay.transferId);

export async function fetchRelayed(
  deps: Pick<Deps, "paths" | "fetchTransfer">,
  ctx: { jobId: string; signal: AbortSignal; log(line: string): void },
  t: RelayTransfer,
): Promise<Extract<BackupSource, { kind: "local" }>> {
  if (!deps.fetchTransfer)
    throw new Invalid("this host is not in a fleet: it cannot fetch a copy relayed from another host");
  const dir = relayedDir(deps, t);
  await dropTransferDir(dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const file of FILES) {
    const stream = await deps.fetchTransfer(ctx.jobId, file, ctx.signal);
    const bytes = await Bun.write(join(dir, file), new Response(stream));
    ctx.log(`${file} fetched through the coordinator: ${bytes} bytes`);
  }
  return { kind: "local", dir };
}
