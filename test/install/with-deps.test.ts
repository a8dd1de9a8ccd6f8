/**
 * `install.sh --with-deps` for real: apt-get installs docker.io, PostgreSQL and nginx from the
 * Debian mirror inside a fresh container (about a minute), then a re-run finds them and skips
 * apt. install.test.ts covers the "only with --with-deps" rule with a recording apt-get.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { removeByLabel, testLabel } from "../support/docker";
import { BASE_IMAGE, binarySnapshot, INSTALL_SH, TestContainer } from "../support/install-container";
import { removeTempDir } from "../support/tmp";

const label = testLabel();
let bin: { dir: string; binary: string; version: string };
let c: TestContainer;

beforeAll(async () => {
  bin = await binarySnapshot();
  c = await TestContainer.start({
    image: BASE_IMAGE,
    mounts: [
      [INSTALL_SH, "/install.sh"],
      [bin.binary, "/tmp/odooops"],
    ],
    labels: label.labels,
  });
}, 300_000);

afterAll(async () => {
  await c?.remove();
  await removeByLabel(`${label.key}=${label.value}`);
  if (bin) removeTempDir(bin.dir);
}, 120_000);

test("--with-deps installs docker.io, postgresql and nginx with apt-get, then skips them", async () => {
  const r = await c.exec(["sh", "/install.sh", "--binary", "/tmp/odooops", "--with-deps"], { timeoutMs: 540_000 });
  if (r.code !== 0) console.error(r.stdout.slice(-4000), r.stderr.slice(-4000));
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("installing docker.io postgresql nginx with apt-get");
  const status = await c.sh("dpkg-query -W -f='${Package} ${Status}\\n' docker.io postgresql nginx");
  expect(status).toBe("docker.io install ok installed\nnginx install ok installed\npostgresql install ok installed\n");
  expect((await c.exec(["odooops", "--version"])).stdout.trim()).toBe(bin.version);

  const again = await c.exec(["sh", "/install.sh", "--binary", "/tmp/odooops", "--with-deps"]);
  expect(again.code).toBe(0);
  expect(again.stdout).toContain("dependencies already installed");
}, 600_000);
