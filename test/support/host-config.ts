/**
 * The config of a whole test or bench host: its private PostgreSQL and nginx, the Odoo stand-in,
 * a port range and a docker name prefix of its own. Tests and benchmarks add their own sections
 * (`extra`, merged at the top level).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TestNginx } from "./nginx";
import type { TestPostgres } from "./postgres";

/** The Odoo stand-in (../shared/odoo-standin/build.sh); BENCH_ODOO_IMAGE lets a benchmark use another. */
export const STANDIN_IMAGE = process.env.BENCH_ODOO_IMAGE ?? "odooops-test/odoo:17.0";

/**
 * The first port of a random even-aligned range in 20000–30199, so parallel hosts do not race
 * for the same ports; below the kernel's ephemeral range (32768–60999 here), where an outgoing
 * connection could take a published port between its allocation and `docker run` (a CI run failed
 * on "bind: address already in use"). The product's default range, 20000–29999, is below it too.
 */
export function randomPortBase(): number {
  return 20000 + 2 * Math.floor(Math.random() * 5000);
}

export interface HostConfigInput {
  pg: TestPostgres;
  nginx: TestNginx;
  baseDomain: string;
  namePrefix: string;
  portsFrom: number;
  /** Ports in the range (default 100). */
  portCount?: number;
  healthTimeoutSec?: number;
}

export function hostConfig(h: HostConfigInput, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const { pg, nginx } = h;
  return {
    baseDomain: h.baseDomain,
    postgres: { host: pg.host, port: pg.port, user: pg.user, password: pg.password, hbaFile: pg.hbaFile },
    // The test nginx's workers run as nobody:nogroup (no `user` directive, master as root).
    nginx: { binary: nginx.binary, configFile: nginx.configFile, httpPort: nginx.port, group: "nogroup" },
    // Explicitly public, so tests about other things reach /web/login; test/env/access.test.ts
    // passes `access: {}` to get the shipped defaults (every non-production tier protected).
    access: { dev: { basicAuth: false }, dev_ephemeral: { basicAuth: false }, staging: { basicAuth: false } },
    odoo: { image: STANDIN_IMAGE, healthTimeoutSec: h.healthTimeoutSec ?? 60 },
    ports: { from: h.portsFrom, to: h.portsFrom + (h.portCount ?? 100) - 1 },
    docker: { namePrefix: h.namePrefix },
    ...extra,
  };
}

/** `<root>/etc/config.yaml`, where a daemon started with ODOOOPS_ROOT=<root> reads it (JSON is YAML). */
export function writeHostConfig(root: string, config: Record<string, unknown>): void {
  mkdirSync(join(root, "etc"), { recursive: true });
  writeFileSync(join(root, "etc/config.yaml"), JSON.stringify(config));
}
