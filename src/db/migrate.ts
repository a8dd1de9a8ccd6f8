/**
 * `db migrate`: which modules of an env need `-u`. The code an env runs is the image its
 * container serves (a release image after a deployment, else the env's base image), so the
 * manifests are read from that image, not from a repository: installed `latest_version` vs the
 * image's manifest version, plus whatever Odoo itself left `to upgrade` / `to install`.
 */
import type { Command } from "../exec/command";
import { run } from "../exec/run";
import { Invalid, Unavailable } from "../errors";
import { normaliseVersion, parseManifest } from "../odoo/manifest";
import { isInstalled, type InstalledModule } from "../odoo/modules";
import type { Environment } from "../env/env.sql";
import { envHost } from "../env/host";
import { odooUser } from "../env/resources";
import type { Deps } from "../deps";
import { docker, type DockerConfig } from "../host/docker";

/** Odoo's bundled addons first, then the image's extra addons: the first module of a name wins, as in Odoo. */
export const IMAGE_ADDONS_DIRS = ["/usr/lib/python3/dist-packages/odoo/addons", "/mnt/extra-addons"];

/** Prints `{"<module>": "<__manifest__.py text>"}`; reads files only, imports nothing of Odoo. */
const LIST_MANIFESTS = [
  "import glob, json, os, sys",
  "out = {}",
  "for root in sys.argv[1:]:",
  "    for p in sorted(glob.glob(os.path.join(root, '*', '__manifest__.py'))):",
  "        name = os.path.basename(os.path.dirname(p))",
  "        if name not in out:",
  "            with open(p, encoding='utf-8') as f:",
  "                out[name] = f.read()",
  "print(json.dumps(out))",
].join("\n");

export function imageManifestsCommand(cfg: DockerConfig, image: string, dirs: string[] = IMAGE_ADDONS_DIRS): Command {
  return {
    ...docker(cfg).run({
      image,
      rm: true,
      network: "none",
      entrypoint: "python3",
      args: ["-c", LIST_MANIFESTS, ...dirs],
    }),
    timeoutMs: 5 * 60_000,
  };
}

export interface ImageModule {
  name: string;
  version: string;
  installable: boolean;
}

/** The command's output → modules with series-normalised versions; Invalid naming the bad manifest. */
export function parseImageManifests(stdout: string, series: string, image: string): ImageModule[] {
  let raw: unknown;
  try {
    raw = JSON.parse(stdout);
  } catch {
    throw new Invalid(
      `could not read the module manifests of ${image}: unexpected output ${JSON.stringify(stdout.slice(0, 200))}`,
    );
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw))
    throw new Invalid(`could not read the module manifests of ${image}`);
  const out: ImageModule[] = [];
  for (const [name, text] of Object.entries(raw).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (typeof text !== "string") continue;
    const m = parseManifest(text, `${image}: ${name}/__manifest__.py`);
    const version = typeof m.version === "string" && m.version !== "" ? m.version : "1.0";
    out.push({ name, version: normaliseVersion(version, series), installable: m.installable !== false });
  }
  return out;
}

export interface MigrationItem {
  name: string;
  from: string | null;
  to: string | null;
  /** version: installed version differs from the image's; state: Odoo marked it to upgrade/install. */
  reason: "version" | "to upgrade" | "to install";
}

export interface MigrationPlan {
  image: string;
  update: MigrationItem[];
  /** The `-u` list: every module above, in name order. */
  modules: string[];
}

/** Pure: installed modules whose image version differs, plus those in `to upgrade` / `to install`. */
export function planMigration(
  image: string,
  installed: Map<string, InstalledModule>,
  imageModules: ImageModule[],
): MigrationPlan {
  const inImage = new Map(imageModules.map((m) => [m.name, m]));
  const update: MigrationItem[] = [];
  for (const [name, db] of [...installed].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const m = inImage.get(name);
    if (db.state === "to upgrade" || db.state === "to install") {
      update.push({ name, from: db.latestVersion, to: m?.version ?? null, reason: db.state });
    } else if (isInstalled(db) && m && m.installable && m.version !== db.latestVersion) {
      update.push({ name, from: db.latestVersion, to: m.version, reason: "version" });
    }
  }
  return { image, update, modules: update.map((u) => u.name) };
}

/** The image the env's container runs (it may be a release image); the env's base image when it has none. */
export async function servingImage(deps: Pick<Deps, "config" | "paths">, env: Environment): Promise<string> {
  if (!env.containerName) return env.odooImage;
  const info = await envHost(deps).dockerClient.inspectContainer(env.containerName);
  return info?.Config.Image ?? env.odooImage;
}

export async function readImageModules(
  deps: Pick<Deps, "config">,
  image: string,
  series: string,
): Promise<ImageModule[]> {
  const r = await run(
    imageManifestsCommand({ binary: deps.config.docker.binary, runAs: odooUser(deps.config) }, image),
    { nothrow: true },
  );
  if (r.exitCode !== 0)
    throw new Unavailable(
      `could not list the modules of image ${image} (exit ${r.exitCode}): ${r.stderr.trim().slice(-500)}`,
    );
  return parseImageManifests(r.stdout, series, image);
}
