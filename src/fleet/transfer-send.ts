/**
 * The agent's half of a relayed transfer (transfer-relay.ts). As a source, it uploads a file of
 * its outgoing pack, or of one of its local backups, when its lease answers with a request for one; as a target, its restore job
 * downloads a file with a one-time ticket it asks for first. Both over its one pinned link to
 * the coordinator: the agent listens nowhere and talks to no other agent.
 */
import { join } from "node:path";
import type { Deps } from "../deps";
import { relaySourceDir } from "../db/clone-transfer/relay-dir";
import { errorText } from "../errors";
import { Log } from "../log";
import type { CoordinatorClient } from "./coordinator-client";
import { FileRequest } from "./transfer-relay";

const log = Log.create("agent");

/** A lease's `stream` that asks for a transfer's file rather than a container's log. */
export const isFileRequest = (raw: unknown): boolean => typeof raw === "object" && raw !== null && "transfer" in raw;

export async function sendTransferFile(
  client: Pick<CoordinatorClient, "post" | "upload">,
  deps: Pick<Deps, "paths" | "config">,
  raw: unknown,
  stopping: AbortSignal,
): Promise<void> {
  const parsed = FileRequest.safeParse(raw);
  if (!parsed.success) {
    log.warn("ignored a malformed transfer request", { error: parsed.error.message });
    return;
  }
  const req = parsed.data.transfer;
  const { id, file } = req;
  const path = `/transfers/${encodeURIComponent(id)}`;
  try {
    const f = Bun.file(join(relaySourceDir(deps, req), file));
    if (!(await f.exists())) {
      await client.post(`/transfers/refuse/${encodeURIComponent(id)}`, {
        error: `the source's host has no ${file} for ${req.from} ${req.transferId} (removed, or never made)`,
      });
      return;
    }
    await client.upload(`/transfers/upload/${encodeURIComponent(id)}`, f, stopping);
  } catch (e) {
    log.warn("sending a transfer's file to the coordinator failed", { request: path, error: errorText(e) });
  }
}

/** The restore job's download: a ticket for this job and file, spent at once. */
export function ticketFetch(client: Pick<CoordinatorClient, "post" | "download">) {
  return async (jobId: string, file: string, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> => {
    const { ticket } = await client.post<{ ticket: string }>("/transfers/ticket", { jobId, file });
    return client.download("/transfers/fetch", { ticket }, signal);
  };
}
