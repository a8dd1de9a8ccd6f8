/**
 * kill -9 of a real job-running process (agent-child.ts) on a host's root at the moment a test
 * picks, so what it spawned is orphaned as a crashed daemon's would be, for the start sweep to
 * find. The child reads the host's config from a file of its own temp dir.
 */
import type { Subprocess } from "bun";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../../src/exec/run";
import { makeTempDir, removeTempDir } from "./tmp";

const AGENT_CHILD = join(import.meta.dir, "agent-child.ts");

/** Whether a container of exactly this name runs. */
export async function containerRunning(name: string): Promise<boolean> {
  const r = await run({ argv: ["docker", "ps", "--format", "{{.Names}}", "--filter", `name=^${name}$`] });
  return r.stdout.split("\n").includes(name);
}

/** Job processes of the host at `root` with `config`; `stop()` kills those still alive and removes the config. */
export function crashingAgents(root: string, config: unknown) {
  const work = makeTempDir("odooops-agent-crash-");
  const configFile = join(work, "config.json");
  writeFileSync(configFile, JSON.stringify(config));
  const children: Subprocess[] = [];
  return {
    /** Starts a job process and kill -9s it once `container` runs (the copy is booted). */
    async killOnceRunning(container: string): Promise<void> {
      const child = Bun.spawn(["bun", AGENT_CHILD, root, configFile, "test:child"], {
        stdout: "ignore",
        stderr: "ignore",
      });
      children.push(child);
      const until = Date.now() + 150_000;
      while (!(await containerRunning(container))) {
        if (Date.now() > until) throw new Error(`${container} never ran`);
        await Bun.sleep(50);
      }
      child.kill(9);
      await child.exited;
    },
    stop(): void {
      for (const c of children) c.kill(9);
      removeTempDir(work);
    },
  };
}
