/** init's nginx wiring against real `nginx -T` runs on private config files (no nginx started). */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { resolvePaths } from "../../src/config/paths";
import { ConfigSchema } from "../../src/config/schema";
import { includeSnippet, wireNginx } from "../../src/init/nginx";
import { writeDebianLikeNginxConf } from "../support/nginx";
import { makeTempDir, removeTempDir } from "../support/tmp";

const dir = makeTempDir("odooops-init-nginx-");
afterAll(() => removeTempDir(dir));
const paths = resolvePaths(join(dir, "root"));
const configFor = (configFile: string) => ConfigSchema.parse({ nginx: { configFile } });

test("Debian layout: one conf.d snippet includes the vhosts; a rerun finds it already included", async () => {
  const conf = writeDebianLikeNginxConf(join(dir, "debian"));
  expect(await wireNginx(configFor(conf), paths)).toEqual({
    status: "included",
    how: "snippet",
    file: join(dir, "debian", "conf.d", "odooops.conf"),
  });
  expect(readFileSync(join(dir, "debian", "conf.d", "odooops.conf"), "utf8")).toBe(
    includeSnippet(join(paths.nginxDir, "sites")),
  );
  expect(await wireNginx(configFor(conf), paths)).toEqual({ status: "included", how: "already" });
});

test("a main config without conf.d: nothing written, the fix is named", async () => {
  const d = join(dir, "plain");
  mkdirSync(d, { recursive: true });
  const conf = join(d, "nginx.conf");
  writeFileSync(conf, `pid ${d}/nginx.pid;\nerror_log ${d}/error.log;\nevents {}\nhttp {}\n`);
  const r = await wireNginx(configFor(conf), paths);
  expect(r.status).toBe("manual");
  expect(r.status === "manual" && r.reason).toContain(
    `add "include ${join(paths.nginxDir, "sites")}/*.conf;" to its http block`,
  );
  expect(existsSync(join(d, "conf.d"))).toBe(false);
});

test("no nginx config at all: skipped with the reason", async () => {
  expect(await wireNginx(configFor(join(dir, "nope", "nginx.conf")), paths)).toMatchObject({ status: "skipped" });
});
