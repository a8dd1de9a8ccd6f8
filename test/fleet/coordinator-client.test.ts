/**
 * The agent's client to the coordinator over real TLS (two Bun servers with certificates made by
 * the same builder the coordinator uses): it talks only to the pinned certificate, whatever
 * address it dials, refuses another certificate with the same name, and keeps one connection
 * for many requests (a handshake per heartbeat would multiply the coordinator's CPU).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../../src/exec/run";
import { CoordinatorClient, fetchPinnedCert } from "../../src/fleet/coordinator-client";
import { AGENT_API_BASE } from "../../src/fleet/schema";
import { certFingerprint, selfSignedCert } from "../../src/fleet/tls";
import { makeTempDir, removeTempDir } from "../support/tmp";

let dir: string;
const servers: ReturnType<typeof Bun.serve>[] = [];
const ports: Record<"a" | "b", number[]> = { a: [], b: [] };
const certs: Record<"a" | "b", string> = { a: "", b: "" };

async function tlsServer(name: "a" | "b") {
  const files = { certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) };
  await run(selfSignedCert(files, "odooops-coordinator"));
  certs[name] = readFileSync(files.certFile, "utf8");
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: certs[name], key: readFileSync(files.keyFile, "utf8") },
    fetch(req, srv) {
      ports[name].push(srv.requestIP(req)?.port ?? -1);
      return Response.json({ ok: name, path: new URL(req.url).pathname });
    },
  });
  servers.push(server);
  return server;
}

let a: ReturnType<typeof Bun.serve>;
let b: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  dir = makeTempDir("odooops-coord-client-");
  a = await tlsServer("a");
  b = await tlsServer("b");
});
afterAll(() => {
  for (const s of servers) s.stop(true);
  removeTempDir(dir);
});

const link = (url: string, cert: string) => ({ url, fingerprint: certFingerprint(cert), certPem: cert });

describe("the pinned client", () => {
  test("reaches the pinned coordinator by IP, and reuses one connection", async () => {
    const url = `https://127.0.0.1:${a.port}`;
    const pem = await fetchPinnedCert(url, certFingerprint(certs.a));
    const client = new CoordinatorClient(link(url, pem), "oda_x");
    for (let i = 0; i < 20; i++)
      expect(await client.post("/heartbeat", {})).toEqual({ ok: "a", path: `${AGENT_API_BASE}/heartbeat` });
    expect(new Set(ports.a).size).toBe(1);
  });

  test("refuses a server with another certificate of the same name", async () => {
    const client = new CoordinatorClient(link(`https://127.0.0.1:${b.port}`, certs.a), "oda_x");
    await expect(client.post("/heartbeat", {})).rejects.toThrow(/unreachable/);
    expect(ports.b).toEqual([]);
  });

  test("the pin check before trusting a certificate refuses another fingerprint", async () => {
    await expect(fetchPinnedCert(`https://127.0.0.1:${b.port}`, certFingerprint(certs.a))).rejects.toThrow(
      /not the pinned/,
    );
  });
});
