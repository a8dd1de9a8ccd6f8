import { describe, expect, test } from "bun:test";
import { Invalid } from "../../src/errors";
import type { RepoModule } from "../../src/odoo/manifest";
import { planModuleUpdates } from "../../src/deploy/modules";
import type { InstalledModule } from "../../src/odoo/modules";

const mod = (name: string, version: string, checksum: string, extra: Partial<RepoModule> = {}): RepoModule => ({
  name,
  version,
  checksum,
  installable: true,
  depends: [],
  ...extra,
});
const installed = (entries: [string, string, string | null][]): Map<string, InstalledModule> =>
  new Map(entries.map(([name, state, latestVersion]) => [name, { state, latestVersion }]));

const db = installed([
  ["base", "installed", "17.0.1.3"],
  ["sale", "installed", "17.0.1.2"],
  ["acme_sales", "installed", "17.0.1.0"],
  ["acme_stock", "installed", "17.0.2.0"],
  ["acme_report", "installed", "17.0.1.0"],
  ["acme_new", "uninstalled", null],
  ["crm", "uninstalled", null],
]);
const repo = [
  mod("acme_sales", "17.0.1.0", "c-sales"),
  mod("acme_stock", "17.0.2.0", "c-stock"),
  mod("acme_report", "17.0.1.0", "c-report"),
  mod("acme_new", "17.0.1.0", "c-new"),
];
const previous = { acme_sales: "c-sales", acme_stock: "c-stock", acme_report: "c-report" };

describe("planModuleUpdates", () => {
  test("nothing changed: nothing to do", () => {
    expect(planModuleUpdates({ repo, installed: db, previousChecksums: previous, install: [] })).toEqual({
      update: [],
      install: [],
      unchanged: ["acme_report", "acme_sales", "acme_stock"],
    });
  });

  test("a version bump updates that module only", () => {
    const bumped = repo.map((m) =>
      m.name === "acme_sales" ? { ...m, version: "17.0.1.1", checksum: "c-sales-2" } : m,
    );
    expect(planModuleUpdates({ repo: bumped, installed: db, previousChecksums: previous, install: [] })).toEqual({
      update: [{ name: "acme_sales", from: "17.0.1.0", to: "17.0.1.1", reason: "version" }],
      install: [],
      unchanged: ["acme_report", "acme_stock"],
    });
  });

  test("a content change without a version bump is still an update", () => {
    const changed = repo.map((m) => (m.name === "acme_stock" ? { ...m, checksum: "c-stock-2" } : m));
    expect(
      planModuleUpdates({ repo: changed, installed: db, previousChecksums: previous, install: [] }).update,
    ).toEqual([{ name: "acme_stock", from: "17.0.2.0", to: "17.0.2.0", reason: "content" }]);
  });

  test("a module installed but not in the previous checksums counts as changed", () => {
    const { acme_report: _dropped, ...partial } = previous;
    expect(planModuleUpdates({ repo, installed: db, previousChecksums: partial, install: [] }).update).toEqual([
      { name: "acme_report", from: "17.0.1.0", to: "17.0.1.0", reason: "content" },
    ]);
  });

  test("first deploy (no previous checksums): versions only", () => {
    const changed = repo.map((m) => ({ ...m, checksum: `${m.checksum}-other` }));
    const plan = planModuleUpdates({ repo: changed, installed: db, previousChecksums: null, install: [] });
    expect(plan.update).toEqual([]);
    expect(plan.unchanged).toEqual(["acme_report", "acme_sales", "acme_stock"]);
    const bumped = changed.map((m) => (m.name === "acme_report" ? { ...m, version: "17.0.1.5" } : m));
    expect(planModuleUpdates({ repo: bumped, installed: db, previousChecksums: null, install: [] }).update).toEqual([
      { name: "acme_report", from: "17.0.1.0", to: "17.0.1.5", reason: "version" },
    ]);
  });

  test("configured modules not installed yet are installed, in order, once; installed ones are not", () => {
    const plan = planModuleUpdates({
      repo,
      installed: db,
      previousChecksums: previous,
      install: ["acme_new", "crm", "sale", "acme_new", "website"],
    });
    expect(plan.install).toEqual(["acme_new", "crm", "website"]);
    expect(plan.update).toEqual([]);
  });

  test("a new repo module that is not configured is left alone", () => {
    const plan = planModuleUpdates({ repo, installed: db, previousChecksums: previous, install: [] });
    expect([...plan.update.map((u) => u.name), ...plan.install, ...plan.unchanged]).not.toContain("acme_new");
  });

  test("modules mid-upgrade count as installed; a null latest_version is a version change", () => {
    const states = installed([
      ["acme_sales", "to upgrade", "17.0.1.0"],
      ["acme_stock", "to remove", null],
      ["acme_report", "to install", null],
    ]);
    const plan = planModuleUpdates({ repo, installed: states, previousChecksums: previous, install: ["acme_report"] });
    expect(plan.update).toEqual([{ name: "acme_stock", from: null, to: "17.0.2.0", reason: "version" }]);
    expect(plan.unchanged).toEqual(["acme_sales"]);
    expect(plan.install).toEqual(["acme_report"]);
  });

  test("an empty database (never initialised) only installs", () => {
    expect(planModuleUpdates({ repo, installed: new Map(), previousChecksums: null, install: ["acme_sales"] })).toEqual(
      {
        update: [],
        install: ["acme_sales"],
        unchanged: [],
      },
    );
  });

  test("non-installable modules are never updated; installing one is refused", () => {
    const old = [...repo, mod("acme_legacy", "17.0.9.0", "c-legacy", { installable: false })];
    const withLegacy = new Map([...db, ["acme_legacy", { state: "installed", latestVersion: "17.0.1.0" }]]);
    const plan = planModuleUpdates({ repo: old, installed: withLegacy, previousChecksums: previous, install: [] });
    expect(plan.update).toEqual([]);
    expect(plan.unchanged).not.toContain("acme_legacy");
    expect(() =>
      planModuleUpdates({ repo: old, installed: db, previousChecksums: previous, install: ["acme_legacy"] }),
    ).toThrow(/acme_legacy is configured to be installed but its manifest says installable: False/);
  });

  test("install names must be module names", () => {
    expect(() => planModuleUpdates({ repo, installed: db, previousChecksums: null, install: ["sale,crm"] })).toThrow(
      Invalid,
    );
    expect(() => planModuleUpdates({ repo, installed: db, previousChecksums: null, install: ["-u"] })).toThrow(
      /invalid module name/,
    );
  });

  test("the plan does not depend on the order of the repo's modules", () => {
    const bumped = repo.map((m) => ({ ...m, version: `${m.version}.1` }));
    const a = planModuleUpdates({ repo: bumped, installed: db, previousChecksums: previous, install: [] });
    const b = planModuleUpdates({
      repo: [...bumped].reverse(),
      installed: db,
      previousChecksums: previous,
      install: [],
    });
    expect(b).toEqual(a);
    expect(a.update.map((u) => u.name)).toEqual(["acme_report", "acme_sales", "acme_stock"]);
  });
});
