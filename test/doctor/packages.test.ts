/**
 * The hint for a missing nginx, PostgreSQL or docker: `apt-get install -y PKG` on Debian and
 * Ubuntu when the package lists offer it, the two steps in words when they do not, a sentence
 * elsewhere. Pure parts here, against os-release and apt-cache texts as those tools print them;
 * each command is run for real in test/install/missing-packages.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { aptCandidate } from "../../src/doctor/commands";
import { debianLike, hasCandidate, packageFix, packageHint, parseOsRelease } from "../../src/doctor/packages";
import { makeTempDir, removeTempDir } from "../support/tmp";

const DEBIAN = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
ID=debian
HOME_URL="https://www.debian.org/"
`;
const UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n';
const MINT = "ID=linuxmint\nID_LIKE='ubuntu debian'\n";
const FEDORA = 'NAME="Fedora Linux"\nID=fedora\nVERSION_ID=40\n';

describe("os-release and apt-cache", () => {
  test("fields without quotes; Debian, Ubuntu and their derivatives are Debian-like, Fedora is not", () => {
    expect(parseOsRelease(DEBIAN)).toMatchObject({ ID: "debian", VERSION_ID: "12", NAME: "Debian GNU/Linux" });
    expect(debianLike(parseOsRelease(DEBIAN))).toBe(true);
    expect(debianLike(parseOsRelease(UBUNTU))).toBe(true);
    expect(debianLike(parseOsRelease(MINT))).toBe(true);
    expect(debianLike(parseOsRelease(FEDORA))).toBe(false);
    expect(debianLike({})).toBe(false);
  });

  test("a candidate version, none, or no output at all (empty package lists)", () => {
    expect(aptCandidate("nginx").argv).toEqual(["apt-cache", "policy", "nginx"]);
    expect(hasCandidate("nginx:\n  Installed: (none)\n  Candidate: 1.22.1-9+deb12u2\n  Version table:\n")).toBe(true);
    expect(hasCandidate("nginx:\n  Installed: (none)\n  Candidate: (none)\n  Version table:\n")).toBe(false);
    expect(hasCandidate("")).toBe(false);
  });
});

describe("the hint", () => {
  test("Debian with the package offered: the apt-get argv; not offered: words; another OS or none: a sentence", () => {
    const debian = parseOsRelease(DEBIAN);
    expect(packageFix("nginx", "nginx", debian, true)).toEqual({
      command: ["apt-get", "install", "-y", "nginx"],
      note: "installs nginx",
    });
    expect(packageFix("docker.io", "Docker", parseOsRelease(UBUNTU), true)).toEqual({
      command: ["apt-get", "install", "-y", "docker.io"],
      note: "installs Docker",
    });
    expect(packageFix("postgresql", "PostgreSQL", debian, false)).toBe(
      "apt-get update, then apt-get install -y postgresql (this host's package lists do not offer postgresql yet)",
    );
    const other =
      "install nginx with this system's package manager (odooops knows the Debian and Ubuntu package names only)";
    expect(packageFix("nginx", "nginx", parseOsRelease(FEDORA), true)).toBe(other);
    expect(packageFix("nginx", "nginx", null, true)).toBe(other);
  });

  test("from files: a non-Debian os-release never asks apt; a missing one gives the sentence", async () => {
    const dir = makeTempDir("odooops-os-release-");
    try {
      writeFileSync(join(dir, "os-release"), FEDORA);
      expect(await packageHint("nginx", "nginx", join(dir, "os-release"))).toBe(
        "install nginx with this system's package manager (odooops knows the Debian and Ubuntu package names only)",
      );
      expect(typeof (await packageHint("nginx", "nginx", join(dir, "absent")))).toBe("string");
    } finally {
      removeTempDir(dir);
    }
  });
});
