/**
 * scripts/build-release: x64 (always) and arm64 (cross-compiled; bun fetches the arm64 runtime
 * from the npm registry on first use, so it may be missing offline) into a temp RELEASE_DIR,
 * with a SHA256SUMS that `sha256sum -c` accepts and that install.sh can consume.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, runArgv } from "../support/install-container";
import { makeTempDir, removeTempDir } from "../support/tmp";

const tmp = makeTempDir("odooops-release-");
const out = join(tmp, "release");

afterAll(() => removeTempDir(tmp));

/** ELF e_machine: 0x3e x86-64, 0xb7 aarch64. */
function elfMachine(file: string): number {
  const b = readFileSync(file).subarray(0, 20);
  expect(b.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
  return b.readUInt16LE(18);
}

test("builds linux-x64 and linux-arm64 binaries plus SHA256SUMS", async () => {
  const version = (JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string }).version;
  const r = await runArgv(["bash", join(REPO, "scripts", "build-release")], {
    timeoutMs: 600_000,
    env: { RELEASE_DIR: out },
  });
  if (r.code !== 0) console.error(r.stdout, r.stderr);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`build-release: ${out} (odooops ${version})`);

  const x64 = join(out, "odooops-linux-x64");
  expect(elfMachine(x64)).toBe(0x3e);
  expect((await runArgv([x64, "--version"])).stdout.trim()).toBe(version);
  expect(readFileSync(join(out, "install.sh"), "utf8")).toBe(readFileSync(join(REPO, "install.sh"), "utf8"));

  const sums = readFileSync(join(out, "SHA256SUMS"), "utf8");
  const names = sums
    .trim()
    .split("\n")
    .map((l) => l.split(/ [ *]/)[1]);
  const arm64 = join(out, "odooops-linux-arm64");
  if (existsSync(arm64)) {
    expect(elfMachine(arm64)).toBe(0xb7);
    expect(names).toEqual(["odooops-linux-x64", "odooops-linux-arm64", "install.sh"]);
  } else {
    // Offline without a cached arm64 runtime: x64 is still released, and the script says why.
    expect(r.stderr).toContain("WARNING: not built: arm64");
    expect(names).toEqual(["odooops-linux-x64", "install.sh"]);
  }
  for (const line of sums.trim().split("\n")) expect(line).toMatch(/^[0-9a-f]{64} {2}[A-Za-z0-9._-]+$/);
  const check = await runArgv(["sha256sum", "--check", "--strict", "SHA256SUMS"], { cwd: out });
  expect(check.code).toBe(0);
}, 600_000);

test("an unknown architecture is a usage error and writes nothing", async () => {
  const r = await runArgv(["bash", join(REPO, "scripts", "build-release"), "riscv64"], {
    env: { RELEASE_DIR: join(tmp, "none") },
  });
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("unknown architecture: riscv64");
  expect(existsSync(join(tmp, "none"))).toBe(false);
}, 120_000);
