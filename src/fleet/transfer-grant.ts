/**
 * The coordinator's half of a relayed transfer (transfer-relay.ts): a ticket is issued only to
 * the host that runs the restore job reading that transfer, for that job, while it runs; the
 * ticket, once redeemed, opens the file at its source (a clone's pack, or a backup's local copy)
 * — this coordinator's own disk when the source is its host, else the source agent's upload,
 * asked for through its lease long-poll.
 */
import { join } from "node:path";
import { relaySourceDir } from "../db/clone-transfer/relay-dir";
import { RelayTransfer } from "../db/transfer";
import type { CoordinatorDeps } from "../deps";
import { Forbidden, NotFound } from "../errors";
import { TransferFile } from "./transfer-relay";

type Relay = RelayTransfer["relay"];

/** The transfer a restore job that `hostId` runs right now reads; Forbidden for anything else. */
function relayOf(deps: Pick<CoordinatorDeps, "jobs" | "fleet">, hostId: string, jobId: string): Relay {
  const refuse = () => new Forbidden(`job ${jobId} is not a restore of a relayed transfer running on this host`);
  let row: ReturnType<CoordinatorDeps["jobs"]["queue"]["row"]>;
  try {
    row = deps.jobs.queue.row(jobId);
  } catch {
    throw refuse();
  }
  const transfer = RelayTransfer.safeParse(row.params.transfer);
  const runsOn = row.hostId ?? deps.fleet.localHostId;
  if (row.kind !== "db.restore" || row.status !== "running" || runsOn !== hostId || !transfer.success) throw refuse();
  return transfer.data.relay;
}

export function issueTicket(
  deps: Pick<CoordinatorDeps, "jobs" | "fleet">,
  hostId: string,
  jobId: string,
  file: TransferFile,
): string {
  relayOf(deps, hostId, jobId);
  return deps.fleet.tickets.issue({ hostId, jobId, file });
}

/** The file a ticket grants, as a stream; spends the ticket first, so a refusal below cannot be retried with it. */
export async function openTicket(
  deps: Pick<CoordinatorDeps, "jobs" | "fleet" | "paths" | "config">,
  hostId: string,
  ticket: string,
): Promise<ReadableStream<Uint8Array>> {
  const grant = deps.fleet.tickets.redeem(ticket, hostId);
  const relay = relayOf(deps, hostId, grant.jobId);
  if (relay.hostId === deps.fleet.localHostId) {
    const file = Bun.file(join(relaySourceDir(deps, relay), grant.file));
    if (!(await file.exists()))
      throw new NotFound(`${relay.from} ${relay.transferId} has no ${grant.file} on this host`);
    return file.stream();
  }
  const { from, slug, transferId } = relay;
  return deps.fleet.files.request(relay.hostId, { from, slug, transferId, file: grant.file });
}

/** A restore running on the coordinator's own host fetches the same way, without the HTTP hop. */
export function localTransferFetch(deps: Pick<CoordinatorDeps, "jobs" | "fleet" | "paths" | "config">) {
  return async (jobId: string, file: string): Promise<ReadableStream<Uint8Array>> => {
    const here = deps.fleet.localHostId;
    if (here === null) throw new Forbidden("this coordinator has no host id: it is not part of a fleet");
    return openTicket(deps, here, issueTicket(deps, here, jobId, TransferFile.parse(file)));
  };
}
