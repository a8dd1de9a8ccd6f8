/**
 * The hint for a missing package: on Debian and Ubuntu the apt-get command that installs it;
 * elsewhere a sentence (odooops does not guess another package manager's names).
 */
import { readFileSync } from "node:fs";
import { run } from "../exec/run";
import { type Hint, fix } from "./check";
import { aptCandidate } from "./commands";

/** KEY=value lines of os-release(5), quotes removed. */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2].replace(/^(["'])(.*)\1$/, "$2");
  }
  return out;
}

/** Debian, Ubuntu or a derivative (ID or ID_LIKE), the way install.sh decides. */
export function debianLike(osRelease: Record<string, string>): boolean {
  const ids = `${osRelease.ID ?? ""} ${osRelease.ID_LIKE ?? ""}`.split(/\s+/);
  return ids.includes("debian") || ids.includes("ubuntu");
}

/** "Candidate: 1.22.1-9" in `apt-cache policy`; none (or no output) when the lists do not offer it. */
export function hasCandidate(policy: string): boolean {
  const c = /^\s*Candidate:\s*(\S+)/m.exec(policy)?.[1];
  return c !== undefined && c !== "(none)";
}

export function aptInstallArgv(pkg: string): string[] {
  return ["apt-get", "install", "-y", pkg];
}

/**
 * `offered`: the package lists know the package. Without them (`apt-get update` never ran, as
 * in a fresh minimal image) apt-get install fails, so the hint is the two steps in words.
 */
export function packageFix(pkg: string, what: string, os: Record<string, string> | null, offered: boolean): Hint {
  if (!os || !debianLike(os))
    return `install ${what} with this system's package manager (odooops knows the Debian and Ubuntu package names only)`;
  if (!offered)
    return `apt-get update, then apt-get install -y ${pkg} (this host's package lists do not offer ${pkg} yet)`;
  return fix(aptInstallArgv(pkg), `installs ${what}`);
}

function readOsRelease(file: string): Record<string, string> | null {
  try {
    return parseOsRelease(readFileSync(file, "utf8"));
  } catch {
    return null;
  }
}

async function offered(pkg: string): Promise<boolean> {
  try {
    return hasCandidate((await run(aptCandidate(pkg), { nothrow: true })).stdout);
  } catch {
    return false;
  }
}

/** The hint for `pkg` (docker.io, nginx, postgresql) on this host. */
export async function packageHint(pkg: string, what: string, osReleaseFile = "/etc/os-release"): Promise<Hint> {
  const os = readOsRelease(osReleaseFile);
  return packageFix(pkg, what, os, os !== null && debianLike(os) && (await offered(pkg)));
}
