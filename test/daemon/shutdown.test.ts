/**
 * A coordinator that stops while an agent's lease is long-polling (the wait an idle agent always
 * has open) answers it and waits for it: nothing touches the state database once it is closed.
 * Before, the handler woke at its deadline after the stop and logged "Cannot use a closed
 * database". A real daemon (`startDaemon`) and a real agent API call over the pinned HTTPS channel.
 */
import { afterAll, expect, test } from "bun:test";
import { startDaemon } from "../../src/daemon/serve";
import { CoordinatorClient, fetchPinnedCert } from "../../src/fleet/coordinator-client";
import { decodeJoinToken } from "../../src/fleet/join-token";
import { Log } from "../../src/log";
import { AGENT_INVENTORY } from "../support/fleet-api";
import { startBareCoordinator } from "../support/fleet";
import { testNamePrefix } from "../support/docker";
import { removeTempDir } from "../support/tmp";

const WAIT_MS = 3_000;
let root = "";
let daemon: Awaited<ReturnType<typeof startDaemon>> | null = null;

afterAll(async () => {
  Log.configure({ sink: { write: (line) => process.stderr.write(line) } });
  await daemon?.stop();
  if (root) removeTempDir(root);
});

test("a stop while a lease long-polls: the poll is answered, and nothing logs an error afterwards", async () => {
  ({ root, daemon } = await startBareCoordinator({
    namePrefix: testNamePrefix(),
    heartbeatSec: 1,
    adminPassword: "shutdown-test-pw",
  }));
  const join = daemon.deps.fleet.createJoinToken({ name: "poller" }).token;
  const { url, fingerprint } = decodeJoinToken(join);
  const link = { url, fingerprint, certPem: await fetchPinnedCert(url, fingerprint) };
  const joined = await new CoordinatorClient(link, null).post<{ hostId: string; credential: string }>("/join", {
    token: join,
    name: "poller",
    inventory: AGENT_INVENTORY,
  });
  const client = new CoordinatorClient(link, joined.credential);
  // Nothing is queued for this host: the lease waits its whole WAIT_MS unless something ends it.
  const lease = client
    .post<null>("/jobs/lease", { owner: `${joined.hostId}:test`, leaseMs: 30_000, waitMs: WAIT_MS }, WAIT_MS + 15_000)
    .then(
      (answer) => ({ answer }),
      (e: unknown) => ({ error: String(e) }),
    );
  // The handler is waiting once a job queued now would wake it: give the request time to arrive.
  await Bun.sleep(500);

  const lines: string[] = [];
  Log.configure({ sink: { write: (line) => lines.push(line) } });
  const stopped = daemon;
  daemon = null;
  await stopped.stop();
  await lease;
  // Past the poll's deadline: where the old order woke the handler on the closed database.
  await Bun.sleep(WAIT_MS + 1_000);
  expect(lines.filter((l) => /ERROR|closed database/.test(l))).toEqual([]);
});
