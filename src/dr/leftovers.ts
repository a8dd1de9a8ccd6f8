/**
 * At daemon start, on every host: what a DR test left when its process was killed (kill -9, OOM,
 * power loss) or its host was removed mid-test. A test of an env of another host (test-placement.ts)
 * has no env row here, so the scratch sweep (db/copies/sweep.ts) removes its database, role,
 * pg_hba line and scratch dir but cannot name its container or network: those are found by
 * odooops' labels and naming, and removed only when the name is exactly what a DR test of the env
 * in their own `odooops.slug` label would get (so a real env's container or network, or anyone
 * else's object with a look-alike name, is never taken). Then the env dirs left empty (the remote
 * test's, once its scratch dir is gone): an empty dir holds nothing, and every job that writes
 * into an env's dir creates it first.
 */
import { readdirSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import type { Deps } from "../deps";
import { envHost } from "../env/host";
import { LABEL_MANAGED, LABEL_ROLE, LABEL_SLUG } from "../env/resources";
import { run } from "../exec/run";
import { drTestContainer, drTestNetwork } from "./dr-test-job";

type SweepDeps = Pick<Deps, "config" | "paths">;

type Labels = Record<string, string> | null;

/** The slug a DR-test object of this name and these labels belongs to, or null when it is no DR test's. */
function drTestSlug(
  deps: SweepDeps,
  name: string,
  labels: Labels,
  role: "init" | "network",
  nameOf: typeof drTestContainer,
): string | null {
  const slug = labels?.[LABEL_SLUG];
  if (labels?.[LABEL_MANAGED] !== "true" || labels[LABEL_ROLE] !== role || !slug) return null;
  return nameOf({ slug, domain: "" }, deps) === name ? slug : null;
}

export function isDrTestContainer(deps: SweepDeps, name: string, labels: Labels): boolean {
  return drTestSlug(deps, name, labels, "init", drTestContainer) !== null;
}

export function isDrTestNetwork(deps: SweepDeps, name: string, labels: Labels): boolean {
  return drTestSlug(deps, name, labels, "network", drTestNetwork) !== null;
}

/**
 * Removes every DR-test container and network on this host and the empty env dirs; returns what was removed, one line each. Only at start: a running test's are live.
 */
export async function sweepDrTestLeftovers(deps: SweepDeps): Promise<string[]> {
  const host = envHost(deps);
  const removed: string[] = [];
  for (const c of await host.dockerClient.listByLabel(LABEL_ROLE, "init")) {
    const name = c.Name.replace(/^\//, "");
    if (!isDrTestContainer(deps, name, c.Config.Labels)) continue;
    await run(host.docker.rm(name, { force: true }));
    removed.push(`container ${name}`);
  }
  // The containers first: docker refuses to remove a network something is still attached to.
  for (const id of await host.dockerClient.networksByLabel(LABEL_ROLE, "network")) {
    const net = await host.dockerClient.inspectNetwork(id);
    if (!net || !isDrTestNetwork(deps, net.Name, net.Labels)) continue;
    await run(host.docker.networkRm(net.Name));
    removed.push(`network ${net.Name}`);
  }
  for (const slug of listDir(deps.paths.envsDir)) {
    const dir = join(deps.paths.envsDir, slug);
    // rmdir, not rm -r: it removes an empty directory and nothing else (a file, a dir with anything in it).
    try {
      rmdirSync(dir);
      removed.push(`directory ${dir}`);
    } catch (e) {
      if (!["ENOENT", "ENOTEMPTY", "ENOTDIR"].includes((e as NodeJS.ErrnoException).code ?? "")) throw e;
    }
  }
  return removed;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
