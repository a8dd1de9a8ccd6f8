/**
 * Release retention: the serving release plus the last `deploy.keepReleases` successful ones
 * keep their images (rollback targets); older containers and images that odooops built for the
 * env go. Only objects labelled for this env are ever considered.
 */
import { envHost } from "../env/host";
import { LABEL_ENV, LABEL_ROLE } from "../env/resources";
import type { Environment } from "../env/env.sql";
import { run } from "../exec/run";
import type { Deps } from "../deps";
import { loadDeployment, successfulDeployments } from "./records";

export async function pruneReleases(
  deps: Deps,
  env: Environment,
  finishing: string,
  retired: string | null,
  io: { log(line: string): void },
) {
  const host = envHost(deps);
  const kept = [
    loadDeployment(deps.db, finishing),
    ...successfulDeployments(deps.db, env.id)
      .filter((d) => d.id !== finishing)
      .slice(0, deps.config.deploy.keepReleases),
  ];
  const keepImages = new Set(kept.map((d) => d.image).filter((i): i is string => i !== null));
  // The release just retired stays as a container too: the quickest way back.
  const keepContainers = new Set([env.containerName, retired]);

  const removedContainers: string[] = [];
  for (const c of await host.dockerClient.listByLabel(LABEL_ENV, env.id)) {
    const name = c.Name.replace(/^\//, "");
    if (c.Config.Labels?.[LABEL_ROLE] !== "web" || c.State.Running || keepContainers.has(name)) continue;
    if ((await run(host.docker.rm(name), { nothrow: true })).exitCode === 0) removedContainers.push(name);
  }

  const removedImages: string[] = [];
  const ids = (await run(host.docker.imageLs({ [LABEL_ENV]: env.id }))).stdout.split("\n").filter(Boolean);
  for (const id of new Set(ids)) {
    const info = await host.dockerClient.inspectImage(id);
    const tags = info?.RepoTags ?? [];
    if (tags.some((t) => keepImages.has(t) || t === env.odooImage)) continue;
    // Without --force: an image a container still uses stays.
    for (const t of tags)
      if ((await run(host.docker.imageRm(t), { nothrow: true })).exitCode === 0) removedImages.push(t);
  }
  if (removedContainers.length + removedImages.length > 0)
    io.log(`pruned ${removedContainers.join(", ") || "no containers"}; images ${removedImages.join(", ") || "none"}`);
  return { containers: removedContainers, images: removedImages };
}
