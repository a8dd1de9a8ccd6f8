/**
 * install.sh's download path: a fake release directory (binary + SHA256SUMS + install.sh) served
 * by Bun.serve on 127.0.0.1, reached from a Debian container on the host network, exactly as a
 * user runs it: `curl -fsSL <base>/install.sh | sh -s -- --base-url <base>`. Checksums are
 * verified; a wrong or missing one is refused and nothing is installed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { readFileSync } from "node:fs";
import { removeByLabel, testLabel } from "../support/docker";
import { binarySnapshot, ensureToolsImage, INSTALL_SH, TestContainer } from "../support/install-container";
import { removeTempDir } from "../support/tmp";

const SLOW = 120_000;
const NAME = "odooops-linux-x64";
const label = testLabel();
const containers: TestContainer[] = [];
const requests: string[] = [];
let bin: { dir: string; binary: string; version: string };
let server: Server<undefined>;
let base: string;
let image: string;

function sha256(data: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(data).digest("hex");
}

async function container(): Promise<TestContainer> {
  const ct = await TestContainer.start({ image, mounts: [], labels: label.labels, network: "host" });
  containers.push(ct);
  return ct;
}

beforeAll(async () => {
  bin = await binarySnapshot();
  image = await ensureToolsImage();
  const binary = new Uint8Array(readFileSync(bin.binary));
  const script = readFileSync(INSTALL_SH);
  const good = `${sha256(binary)}  ${NAME}\n${sha256(script)}  install.sh\n`;
  // Releases, each a directory: good (text-mode sums), binmode (`*name`), bad (wrong sum),
  // nosum (no entry for this arch), nobinary (404 for the binary).
  const releases: Record<string, Record<string, Uint8Array | string>> = {
    good: { "install.sh": script, SHA256SUMS: good, [NAME]: binary },
    binmode: { SHA256SUMS: `${sha256(binary)} *${NAME}\n`, [NAME]: binary },
    bad: { SHA256SUMS: `${"0".repeat(64)}  ${NAME}\n`, [NAME]: binary },
    nosum: { SHA256SUMS: `${sha256(binary)}  odooops-linux-arm64\n`, [NAME]: binary },
    nobinary: { SHA256SUMS: good },
  };
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      requests.push(path);
      const [, release, file] = path.split("/");
      const body = releases[release ?? ""]?.[file ?? ""];
      return body === undefined ? new Response("not found", { status: 404 }) : new Response(body);
    },
  });
  base = `http://127.0.0.1:${server.port}`;
}, 600_000);

afterAll(async () => {
  server?.stop(true);
  for (const ct of containers) await ct.remove();
  await removeByLabel(`${label.key}=${label.value}`);
  if (bin) removeTempDir(bin.dir);
}, 120_000);

/** `curl … | sh -s -- ARGS` inside the container. */
function pipedInstall(ct: TestContainer, args: string[], env: Record<string, string> = {}) {
  return ct.exec(["sh", "-c", 'curl -fsSL "$0/good/install.sh" | sh -s -- "$@"', base, ...args], { env });
}

describe("download from a release base URL", () => {
  test(
    "curl | sh with --base-url: downloads, verifies SHA256SUMS, installs",
    async () => {
      const ct = await container();
      requests.length = 0;
      const r = await pipedInstall(ct, ["--base-url", `${base}/good/`]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`downloading ${base}/good/${NAME}`);
      expect(r.stdout).toContain(`checksum ok (${sha256(new Uint8Array(readFileSync(bin.binary)))})`);
      expect(r.stdout).toContain("Next: sudo odooops init");
      // Plain HTTP is allowed (tests, internal mirrors) but said out loud.
      expect(r.stderr).toContain("warning: downloading over plain HTTP");
      expect(requests).toEqual(["/good/install.sh", "/good/SHA256SUMS", `/good/${NAME}`]);
      expect((await ct.exec(["odooops", "--version"])).stdout.trim()).toBe(bin.version);
      expect(await ct.sh("stat -c '%n %a %U %G' /etc/odooops /var/lib/odooops")).toBe(
        "/etc/odooops 750 root odooops\n/var/lib/odooops 751 root odooops\n",
      );
      // The download dir is gone.
      expect(await ct.sh("ls -d /tmp/odooops-install.* 2>/dev/null || echo none")).toBe("none\n");
    },
    SLOW,
  );

  test(
    "wget when curl is missing; ODOOOPS_BASE_URL; binary-mode sums",
    async () => {
      const ct = await container();
      await ct.sh("rm /usr/bin/curl");
      requests.length = 0;
      const r = await ct.exec(["sh", "-c", 'wget -q -O - "$0/good/install.sh" | sh', base], {
        env: { ODOOOPS_BASE_URL: `${base}/binmode` },
      });
      expect(r.code).toBe(0);
      expect(requests).toEqual(["/good/install.sh", "/binmode/SHA256SUMS", `/binmode/${NAME}`]);
      expect((await ct.exec(["odooops", "--version"])).stdout.trim()).toBe(bin.version);
    },
    SLOW,
  );

  test(
    "a wrong checksum is refused: nothing installed, nothing left behind",
    async () => {
      const ct = await container();
      const r = await pipedInstall(ct, ["--base-url", `${base}/bad`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`error: checksum mismatch for ${NAME}: expected ${"0".repeat(64)}, got `);
      expect(r.stderr).toContain("refusing to install");
      expect((await ct.exec(["test", "-e", "/usr/local/bin/odooops"])).code).not.toBe(0);
      expect((await ct.exec(["getent", "passwd", "odooops"])).code).not.toBe(0);
      expect(await ct.sh("ls -d /tmp/odooops-install.* /etc/odooops 2>/dev/null || echo none")).toBe("none\n");
    },
    SLOW,
  );

  test(
    "a wrong checksum never replaces an installed binary",
    async () => {
      const ct = await container();
      expect((await pipedInstall(ct, ["--base-url", `${base}/good`])).code).toBe(0);
      const inode = await ct.sh("stat -c %i /usr/local/bin/odooops");
      const r = await pipedInstall(ct, ["--base-url", `${base}/bad`]);
      expect(r.code).toBe(1);
      expect(await ct.sh("stat -c %i /usr/local/bin/odooops")).toBe(inode);
    },
    SLOW,
  );

  test(
    "no SHA256SUMS entry for this architecture, or no binary: refused",
    async () => {
      const ct = await container();
      const nosum = await pipedInstall(ct, ["--base-url", `${base}/nosum`]);
      expect(nosum.code).toBe(1);
      expect(nosum.stderr).toContain(`SHA256SUMS at ${base}/nosum has no entry for ${NAME}`);
      const nobin = await pipedInstall(ct, ["--base-url", `${base}/nobinary`]);
      expect(nobin.code).toBe(1);
      expect(nobin.stderr).toContain(`download failed: ${base}/nobinary/${NAME}`);
      const scheme = await pipedInstall(ct, ["--base-url", "ftp://example.com/x"]);
      expect(scheme.code).toBe(2);
      expect(scheme.stderr).toContain("--base-url must be an http(s) URL");
      expect((await ct.exec(["test", "-e", "/usr/local/bin/odooops"])).code).not.toBe(0);
    },
    SLOW,
  );
});
