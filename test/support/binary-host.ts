/**
 * The compiled binary as a whole host, for end-to-end tests: `dist/odooops serve` on a temp root
 * (the test nginx's dir) with its own PostgreSQL, nginx and docker name prefix, and the same binary
 * as CLI through the local credential (no login). The daemon can be killed with SIGKILL and
 * started again on the same root.
 */
import { expect } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { removeByNamePrefix, testNamePrefix } from "./docker";
import { hostConfig, randomPortBase, writeHostConfig } from "./host-config";
import { startNginx } from "./nginx";
import { freePort } from "./ports";
import { startPostgres } from "./postgres";

export const BIN = join(import.meta.dir, "../../dist/odooops");

export type BinaryHost = Awaited<ReturnType<typeof startBinaryHost>>;

export async function startBinaryHost(configOverrides: Record<string, unknown> = {}) {
  expect(existsSync(BIN)).toBe(true);
  const pg = await startPostgres({ dockerAccess: false });
  const nginx = await startNginx();
  const root = nginx.dir;
  const port = await freePort();
  const namePrefix = testNamePrefix();
  writeHostConfig(
    root,
    hostConfig({ pg, nginx, baseDomain: "e2e.localhost", namePrefix, portsFrom: randomPortBase() }, configOverrides),
  );

  let daemon: Subprocess | null = null;
  const start = async () => {
    daemon = Bun.spawn([BIN, "serve", "--listen", `127.0.0.1:${port}`], {
      env: { ...process.env, ODOOOPS_ROOT: root, ODOOOPS_ADMIN_PASSWORD: "e2e-admin-pw" },
      stdout: "ignore",
      stderr: "ignore",
    });
    for (let i = 0; i < 200; i++) {
      if (
        await fetch(`http://127.0.0.1:${port}/api/v1/health`).then(
          (r) => r.ok,
          () => false,
        )
      )
        return;
      await Bun.sleep(50);
    }
    throw new Error("daemon did not come up");
  };

  const cli = async (...argv: string[]) => {
    const p = Bun.spawn([BIN, ...argv], {
      env: { ...process.env, ODOOOPS_ROOT: root, CI: "true", HOME: root },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, code] = await Promise.all([
      new Response(p.stdout).text(),
      new Response(p.stderr).text(),
      p.exited,
    ]);
    return { code, stdout, stderr };
  };

  await start();
  return {
    pg,
    nginx,
    root,
    namePrefix,
    cli,
    async cliJson<T>(...argv: string[]): Promise<T> {
      const r = await cli(...argv, "--json");
      if (r.code !== 0) throw new Error(`odooops ${argv.join(" ")} exited ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout) as T;
    },
    /** kill -9 of the daemon, then a new one on the same root. */
    async killAndRestart(): Promise<void> {
      daemon?.kill(9);
      await daemon?.exited;
      await start();
    },
    async stop(): Promise<void> {
      daemon?.kill(9);
      await removeByNamePrefix(namePrefix);
      await nginx.stop();
      await pg.stop();
    },
  };
}
