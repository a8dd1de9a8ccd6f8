/**
 * /websocket through a real nginx to the Odoo stand-in, per env mode. Real Odoo 17 opens its
 * gevent port only with workers (prefork); threaded (workers 0) it serves /websocket on the HTTP
 * port, and with workers its HTTP port refuses it (400 "Couldn't bind the websocket"). The
 * threaded container here publishes no gevent port, as real Odoo has none to publish.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { resolvePaths } from "../../src/config/paths";
import { ConfigSchema } from "../../src/config/schema";
import { envVhostSpec } from "../../src/env/host";
import { run } from "../../src/exec/run";
import { reload, renderVhost, writeVhost, type NginxHost } from "../../src/host/nginx";
import { removeByLabel, testLabel } from "../support/docker";
import { STANDIN_IMAGE } from "../support/env-host";
import { freePort } from "../support/ports";
import { startNginx, type TestNginx } from "../support/nginx";
import { makeTempDir, removeTempDir } from "../support/tmp";

const SLOW = 120_000;
const label = testLabel();
let ng: TestNginx;
let host: NginxHost;
const dir = makeTempDir("odooops-ws-");

/** An Odoo stand-in server (no database needed for /websocket) publishing the given container ports on loopback. */
async function startOdoo(workers: number, publish: number[]): Promise<Record<number, number>> {
  const name = `odooops-ws-${label.value}-w${workers}`;
  await run({
    argv: [
      "docker",
      "run",
      "--detach",
      "--name",
      name,
      "--label",
      `${label.key}=${label.value}`,
      ...publish.flatMap((p) => ["--publish", `127.0.0.1::${p}`]),
      "--entrypoint",
      "odoo",
      STANDIN_IMAGE,
      "--http-port",
      "8069",
      "--gevent-port",
      "8072",
      "--workers",
      String(workers),
    ],
  });
  const ports: Record<number, number> = {};
  for (const p of publish)
    ports[p] = Number(
      (await run({ argv: ["docker", "port", name, String(p)] })).stdout.trim().split("\n")[0]!.split(":").at(-1),
    );
  // Serving once /web/health answers on the HTTP port.
  for (let i = 0; ; i++) {
    const ok = await fetch(`http://127.0.0.1:${ports[8069]}/web/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return ports;
    if (i > 300) throw new Error(`${name} never served`);
    await Bun.sleep(100);
  }
}

/** The status line of a websocket handshake sent raw (fetch cannot ask for an upgrade). */
function handshake(port: number, hostHeader: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => {
      s.write(
        `GET /websocket HTTP/1.1\r\nHost: ${hostHeader}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    let buf = "";
    s.setTimeout(10_000, () => s.destroy(new Error("no answer")));
    s.on("data", (d) => {
      buf += d.toString();
      const i = buf.indexOf("\r\n");
      if (i >= 0) {
        resolve(buf.slice(0, i));
        s.destroy();
      }
    });
    s.on("error", reject);
  });
}

const deps = () => ({ config: ConfigSchema.parse({ nginx: { httpPort: ng.port } }), paths: resolvePaths(dir) });

beforeAll(async () => {
  ng = await startNginx();
  host = { binary: ng.binary, configFile: ng.configFile, sitesDir: ng.sitesDir };
}, SLOW);

afterAll(async () => {
  await removeByLabel(`${label.key}=${label.value}`);
  await ng?.stop();
  removeTempDir(dir);
}, SLOW);

/** The env's vhost as odooops renders it, with the test nginx's own log dir and webroot, and public. */
function vhost(slug: string, workers: number, ports: { http: number; longpoll: number }): string {
  const spec = envVhostSpec(deps(), { slug, domain: `${slug}.test.localhost`, tier: "production", workers }, ports);
  return renderVhost({ ...spec, logDir: ng.logDir, acmeWebroot: ng.acmeWebroot, access: undefined });
}

describe("websockets through nginx", () => {
  test(
    "threaded env (workers 0): /websocket reaches Odoo's HTTP port",
    async () => {
      const ports = await startOdoo(0, [8069]);
      // Odoo has no gevent port in this mode: nothing listens on the env's longpoll port.
      const longpoll = await freePort();
      await writeVhost(host, "ws-threaded", vhost("ws-threaded", 0, { http: ports[8069]!, longpoll }));
      await reload(host);
      expect(await handshake(ng.port, "ws-threaded.test.localhost")).toBe("HTTP/1.1 101 Switching Protocols");
    },
    SLOW,
  );

  test(
    "prefork env (workers 2): /websocket reaches the gevent port; Odoo's HTTP port would refuse it",
    async () => {
      const ports = await startOdoo(2, [8069, 8072]);
      expect(await handshake(ports[8069]!, "x")).toBe("HTTP/1.1 400 Bad Request");
      await writeVhost(host, "ws-prefork", vhost("ws-prefork", 2, { http: ports[8069]!, longpoll: ports[8072]! }));
      await reload(host);
      expect(await handshake(ng.port, "ws-prefork.test.localhost")).toBe("HTTP/1.1 101 Switching Protocols");
    },
    SLOW,
  );
});
