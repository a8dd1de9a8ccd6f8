/**
 * Test harness on the shared dockerd: what a test names and labels its objects with, an env's web
 * containers, and removal of everything a test made, containers first (they pin networks).
 */
import { LABEL_ENV, LABEL_ROLE } from "../../src/env/resources";
import { run } from "../../src/exec/run";
import { docker } from "../../src/host/docker/commands";
import { dockerClient } from "../../src/host/docker/client";

const cfg = { binary: "docker" };

/** A fresh `odooops.test=<random>` label value for one test file. */
export function testLabel(): { key: string; value: string; labels: Record<string, string> } {
  const value = crypto.randomUUID().slice(0, 12);
  return { key: "odooops.test", value, labels: { "odooops.test": value } };
}

/**
 * A unique id (`t` + 8 hex) for one test file. Hosts of that file name their docker objects with
 * it, alone (`<id>-<slug>`) or extended (`<id>c-…`, `<id>a-…` for a coordinator and an agent),
 * so one removeByNamePrefix(id) finds all of them and nothing of another test.
 */
export function testNamePrefix(): string {
  return `t${crypto.randomUUID().slice(0, 8)}`;
}

/** The names of the env's web containers: the running ones, or with `all` the stopped ones too. */
export async function webContainerNames(envId: string, opts: { all?: boolean } = {}): Promise<string[]> {
  const r = await run({
    argv: [
      "docker",
      "ps",
      ...(opts.all ? ["-a"] : []),
      "--format",
      "{{.Names}}",
      "--filter",
      `label=${LABEL_ENV}=${envId}`,
      "--filter",
      `label=${LABEL_ROLE}=web`,
    ],
  });
  return r.stdout.split("\n").filter(Boolean);
}

/**
 * Force-removes every container, then network, then image whose name starts with `id` (a
 * testNamePrefix(), or a benchmark's `b` + 8 hex): `<id>-…` and extended prefixes such as
 * `<id>c-…` alike. Throws only for an `id` of another shape, which could match others' objects;
 * otherwise never.
 */
export async function removeByNamePrefix(id: string): Promise<void> {
  if (!/^[a-z][0-9a-f]{8}$/.test(id))
    throw new Error(`removeByNamePrefix: ${JSON.stringify(id)} is not a unique test id`);
  const named = (argv: string[]) =>
    run({ argv }, { nothrow: true }).then((r) => r.stdout.split("\n").filter((n) => n.startsWith(id)));
  const containers = await named(["docker", "ps", "-a", "--format", "{{.Names}}", "--filter", `name=^${id}`]);
  if (containers.length > 0)
    await run({ argv: ["docker", "rm", "--force", "--volumes", ...containers] }, { nothrow: true });
  const nets = await named(["docker", "network", "ls", "--format", "{{.Name}}", "--filter", `name=^${id}`]);
  if (nets.length > 0) await run({ argv: ["docker", "network", "rm", ...nets] }, { nothrow: true });
  const images = await named([
    "docker",
    "image",
    "ls",
    "--format",
    "{{.Repository}}:{{.Tag}}",
    "--filter",
    `reference=${id}*`,
  ]);
  if (images.length > 0) await run({ argv: ["docker", "image", "rm", "--force", ...images] }, { nothrow: true });
}

/**
 * Force-removes containers, then networks and volumes, then images carrying `label` (`k=v` or
 * `k`). Never throws: it runs in afterAll, where a failure would hide the test's own error.
 */
export async function removeByLabel(label: string): Promise<void> {
  const [key, value] = label.includes("=")
    ? [label.slice(0, label.indexOf("=")), label.slice(label.indexOf("=") + 1)]
    : [label, undefined];
  const d = docker(cfg);
  const c = dockerClient(cfg);
  const filters = { [key]: value ?? (true as const) };
  const ids = (await run(d.ps({ labels: filters }), { nothrow: true })).stdout.split("\n").filter(Boolean);
  if (ids.length > 0) await run({ argv: ["docker", "rm", "--force", "--volumes", ...ids] }, { nothrow: true });
  const nets = await c.networksByLabel(key, value).catch(() => []);
  if (nets.length > 0) await run({ argv: ["docker", "network", "rm", ...nets] }, { nothrow: true });
  const vols = await c.volumesByLabel(key, value).catch(() => []);
  if (vols.length > 0) await run({ argv: ["docker", "volume", "rm", "--force", ...vols] }, { nothrow: true });
  const images = (await run(d.imageLs(filters), { nothrow: true })).stdout.split("\n").filter(Boolean);
  if (images.length > 0)
    await run({ argv: ["docker", "image", "rm", "--force", ...new Set(images)] }, { nothrow: true });
}
