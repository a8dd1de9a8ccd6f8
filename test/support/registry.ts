/** Test harness: a private Docker registry (Debian's docker-registry) on a free loopback port. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./ports";
import { makeTempDir, removeTempDir } from "./tmp";

export interface TestRegistry {
  /** host:port, as image references use it. */
  address: string;
  tags(repository: string): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startRegistry(): Promise<TestRegistry> {
  const dir = makeTempDir("odooops-registry-");
  const port = await freePort();
  const config = join(dir, "config.yml");
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const proc = Bun.spawn(["docker-registry", "serve", config], { stdout: "ignore", stderr: "ignore" });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (
      await fetch(`${base}/v2/`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    if (i > 200) {
      proc.kill();
      throw new Error("docker-registry did not come up");
    }
    await Bun.sleep(50);
  }
  return {
    address: `127.0.0.1:${port}`,
    async tags(repository) {
      const r = await fetch(`${base}/v2/${repository}/tags/list`);
      if (r.status === 404) return [];
      return ((await r.json()) as { tags: string[] | null }).tags ?? [];
    },
    async stop() {
      proc.kill();
      await proc.exited;
      removeTempDir(dir);
    },
  };
}
