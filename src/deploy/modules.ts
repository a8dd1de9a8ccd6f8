/**
 * Which modules a deployment updates or installs. Odoo only migrates what `-u` names, so the
 * plan must catch every module whose code changed: a manifest version that differs from the
 * database's `latest_version`, and — because developers forget to bump versions — a content
 * checksum that differs from the one recorded at the previous deployment.
 */
import { Invalid } from "../errors";
import type { RepoModule } from "../odoo/manifest";
import { isInstalled, type InstalledModule } from "../odoo/modules";

export interface ModuleUpdate {
  name: string;
  from: string | null;
  to: string;
  reason: "version" | "content";
}

export interface ModulePlan {
  update: ModuleUpdate[];
  install: string[];
  unchanged: string[];
}

/**
 * The repository's own modules to install, from the policy's `install_modules`: `all` on the
 * env's first deployment of the repository (its installable modules, by name), a list always.
 */
export function repoModulesToInstall(
  policy: "all" | "none" | string[],
  repo: Pick<RepoModule, "name" | "installable">[],
  firstDeploy: boolean,
): string[] {
  if (policy === "none") return [];
  if (policy !== "all") return policy;
  return firstDeploy
    ? repo
        .filter((m) => m.installable)
        .map((m) => m.name)
        .sort()
    : [];
}

/**
 * The update/install plan. Pure.
 * - update: repo modules installed in the database whose manifest version differs from
 *   `latest_version` (reason "version"), or whose checksum differs from `previousChecksums`
 *   (reason "content"; a module absent from previousChecksums counts as changed). With
 *   `previousChecksums` null (first deployment) only versions are compared.
 * - install: configured modules not installed yet, in the configured order.
 * - unchanged: installed repo modules that need nothing.
 * Modules whose manifest says `installable: False` are neither updated nor installed.
 */
export function planModuleUpdates(input: {
  repo: RepoModule[];
  installed: Map<string, InstalledModule>;
  previousChecksums: Record<string, string> | null;
  install: string[];
}): ModulePlan {
  const repo = new Map(input.repo.map((m) => [m.name, m]));
  const plan: ModulePlan = { update: [], install: [], unchanged: [] };
  for (const m of [...input.repo].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const db = input.installed.get(m.name);
    if (!m.installable || !isInstalled(db)) continue;
    const from = db?.latestVersion ?? null;
    const previous = input.previousChecksums;
    const contentChanged = previous !== null && (!Object.hasOwn(previous, m.name) || previous[m.name] !== m.checksum);
    if (from !== m.version) plan.update.push({ name: m.name, from, to: m.version, reason: "version" });
    else if (contentChanged) plan.update.push({ name: m.name, from, to: m.version, reason: "content" });
    else plan.unchanged.push(m.name);
  }
  for (const name of input.install) {
    if (!/^[A-Za-z0-9_]+$/.test(name))
      throw new Invalid(`invalid module name ${JSON.stringify(name)} in the install list: letters, digits and _`);
    if (plan.install.includes(name) || isInstalled(input.installed.get(name))) continue;
    if (repo.get(name)?.installable === false) {
      throw new Invalid(
        `module ${name} is configured to be installed but its manifest says installable: False; remove it from the install list or fix the manifest`,
      );
    }
    plan.install.push(name);
  }
  return plan;
}
