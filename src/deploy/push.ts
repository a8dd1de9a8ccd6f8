/**
 * The optional registry copy of a release image (`deploy.registry`): other hosts, or a rebuilt
 * host, pull it instead of building again. The image keeps its local tag; the pushed one is
 * `<registry>/<local repository>:<tag>`. A configured push that fails fails the build step:
 * the operator asked for the copy.
 */
import { run } from "../exec/run";
import { imagePush, imageTag } from "./commands";

export function registryRef(registry: string, image: string): string {
  return `${registry.replace(/\/+$/, "")}/${image}`;
}

export async function pushRelease(
  docker: { binary: string },
  registry: string,
  image: string,
  log: (line: string) => void,
  signal?: AbortSignal,
): Promise<string> {
  const ref = registryRef(registry, image);
  await run(imageTag(docker, image, ref));
  await run(imagePush(docker, ref), { onLine: (_s, line) => log(line), signal });
  return ref;
}
