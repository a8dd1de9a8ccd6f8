import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load";
import { resolvePaths } from "../../src/config/paths";

const dirs: string[] = [];
function rootWith(file: string, text: string) {
  const root = mkdtempSync(join(tmpdir(), "odooops-cfg-"));
  dirs.push(root);
  mkdirSync(join(root, "etc"));
  writeFileSync(join(root, "etc", file), text);
  return resolvePaths(root);
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("config", () => {
  test("every path lives under the root", () => {
    const p = resolvePaths("/tmp/x");
    for (const [k, v] of Object.entries(p))
      if (k !== "root") expect(String(v) === "/tmp/x" || String(v).startsWith("/tmp/x/")).toBe(true);
    expect(resolvePaths(null).configYaml).toBe("/etc/odooops/config.yaml");
    expect(resolvePaths(null).stateDb).toBe("/var/lib/odooops/state/odooops.db");
  });

  test("defaults without a file", () => {
    const c = loadConfig(resolvePaths("/nonexistent-odooops"), { env: {} });
    expect(c.listen).toBe("127.0.0.1:8420");
    expect(c.odoo.image).toBe("odoo:17.0");
    expect(c.tiers.production.memoryMb).toBe(4096);
    expect(c.backups.compressLevel).toBe(1);
  });

  test("YAML values, then env overrides, then flags", () => {
    const p = rootWith(
      "config.yaml",
      "listen: 127.0.0.1:9000\npostgres:\n  port: 5433\ntiers:\n  dev:\n    memoryMb: 512\n",
    );
    const c = loadConfig(p, {
      env: { ODOOOPS_POSTGRES_PORT: "6543", ODOOOPS_TIERS_STAGING_CPUS: "3", ODOOOPS_ODOO_MODULES: "base,sale" },
    });
    expect(c.listen).toBe("127.0.0.1:9000");
    expect(c.postgres.port).toBe(6543);
    expect(c.tiers.dev.memoryMb).toBe(512);
    expect(c.tiers.staging.cpus).toBe(3);
    expect(c.odoo.modules).toEqual(["base", "sale"]);
    expect(loadConfig(p, { env: {}, overrides: { listen: "127.0.0.1:1" } }).listen).toBe("127.0.0.1:1");
  });

  test("TOML works too", () => {
    const p = rootWith("config.toml", 'baseDomain = "example.com"\n[nginx]\nhttpPort = 8080\n');
    const c = loadConfig(p, { env: {} });
    expect(c.baseDomain).toBe("example.com");
    expect(c.nginx.httpPort).toBe(8080);
  });

  test("errors name the file and the exact key", () => {
    const p = rootWith("config.yaml", "postgres:\n  port: nope\ntiers:\n  dev:\n    memoryMb: 1\n  bogus: {}\n");
    let msg = "";
    try {
      loadConfig(p, { env: {} });
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toContain(`${p.configYaml}: postgres.port:`);
    expect(msg).toContain(`${p.configYaml}: tiers.dev.memoryMb:`);
    expect(msg).toContain("bogus");
  });

  test("invalid YAML reports the line; bad env override names the variable", () => {
    const p = rootWith("config.yaml", "listen: [unclosed\n");
    expect(() => loadConfig(p, { env: {} })).toThrow(/config\.yaml:\d+: invalid YAML/);
    expect(() => loadConfig(resolvePaths("/nonexistent-odooops"), { env: { ODOOOPS_POSTGRES_PORT: "x" } })).toThrow(
      "ODOOOPS_POSTGRES_PORT: expected a number",
    );
  });
});
