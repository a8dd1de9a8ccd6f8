/**
 * Prerequisites on a bare host: a fresh Debian container (the stand-in build's base image) with
 * nothing installed runs `init --yes` from this source tree. Without --install-deps it only
 * names the missing packages; with it, apt-get installs docker.io, PostgreSQL and nginx for real.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { resolve } from "node:path";
import { removeByLabel, testLabel } from "../support/docker";
import { BASE_IMAGE, TestContainer } from "../support/install-container";

const REPO = resolve(import.meta.dir, "..", "..");
const label = testLabel();
let c: TestContainer;

beforeAll(async () => {
  c = await TestContainer.start({
    image: BASE_IMAGE,
    mounts: [
      [REPO, REPO],
      [process.execPath, "/usr/local/bin/bun"],
    ],
    labels: label.labels,
  });
}, 120_000);

afterAll(async () => {
  await c?.remove();
  await removeByLabel(`${label.key}=${label.value}`);
}, 120_000);

const init = (extra: string[]) =>
  c.exec(
    ["bun", `${REPO}/src/main.ts`, "init", "--yes", "--no-systemd", "--json", "--root", "/tmp/odooops-root", ...extra],
    { timeoutMs: 540_000 },
  );

async function installed(): Promise<string> {
  return (await c.exec(["dpkg-query", "-W", "-f=${Package} ${Status}\\n", "docker.io", "postgresql", "nginx"])).stdout;
}

test("--yes without --install-deps names the missing packages and installs nothing", async () => {
  const r = await init([]);
  if (r.code !== 0) console.error(r.stderr);
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout).installed).toEqual([]);
  expect(r.stderr).toContain("not installed: docker.io, postgresql, nginx; run init again with --install-deps");
  expect(await installed()).not.toContain("install ok installed");
}, 120_000);

test("--yes --install-deps installs docker.io, postgresql and nginx with apt-get", async () => {
  const r = await init(["--install-deps"]);
  if (r.code !== 0) console.error(r.stdout.slice(-3000), r.stderr.slice(-3000));
  expect(r.code).toBe(0);
  const result = JSON.parse(r.stdout);
  expect(result.installed).toEqual(["docker.io", "postgresql", "nginx"]);
  expect(r.stderr).toContain("installing docker.io postgresql nginx with apt-get");
  expect(await installed()).toBe(
    "docker.io install ok installed\nnginx install ok installed\npostgresql install ok installed\n",
  );
  // Now present: nginx is judged on its configuration, no longer "not found".
  const nginx = result.prerequisites.find((p: { id: string }) => p.id === "nginx");
  expect(nginx.message).not.toContain("not found");
}, 600_000);
