/** The read-only commands the checks run, as data. */
import type { Command } from "../exec/command";

/** The engine's version ("20.10.24+dfsg1"); exits non-zero when the daemon cannot be reached. */
export function dockerServerVersion(binary: string): Command {
  return { argv: [binary, "version", "--format", "{{.Server.Version}}"], timeoutMs: 20_000 };
}

export function dockerRootDir(binary: string): Command {
  return { argv: [binary, "info", "--format", "{{.DockerRootDir}}"], timeoutMs: 20_000 };
}

/**
 * The docker engine started in the background where systemd does not run it: start-stop-daemon
 * (dpkg's, on every Debian) detaches it and sends its output to a log, no shell needed.
 */
export function dockerdStart(dockerd: string): Command {
  return {
    argv: ["start-stop-daemon", "--start", "--background", "--output", "/var/log/dockerd.log", "--exec", dockerd],
    timeoutMs: 60_000,
  };
}

/** dockerdStart with this host's dockerd: what doctor's hint runs and init prints, so they agree. */
export function dockerdStartHere(): Command {
  return dockerdStart(Bun.which("dockerd") ?? "/usr/sbin/dockerd");
}

/** `nginx -T`: tests the configuration and prints it with every included file (stdout). */
export function nginxDump(binary: string, configFile: string): Command {
  return { argv: [binary, "-T", "-q", "-c", configFile], timeoutMs: 60_000 };
}

/** `nginx -v` prints "nginx version: nginx/1.22.1" on stderr. */
export function nginxVersion(binary: string): Command {
  return { argv: [binary, "-v"], timeoutMs: 20_000 };
}

/** The IPv4 address of a network interface (docker0: where containers reach the host). */
export function interfaceAddress(name: string): Command {
  return { argv: ["ip", "-4", "-o", "addr", "show", "dev", name], timeoutMs: 10_000 };
}

/** "install ok installed" when the Debian package is installed; exit 1 when dpkg never heard of it. */
export function dpkgStatus(pkg: string): Command {
  return { argv: ["dpkg-query", "-W", "-f=${Status}", pkg], okExitCodes: [1], timeoutMs: 20_000 };
}

/** What the package lists offer for `pkg` ("Candidate: …"); prints nothing for a name they lack. */
export function aptCandidate(pkg: string): Command {
  return { argv: ["apt-cache", "policy", pkg], timeoutMs: 30_000 };
}

/** `pg_dump --version` prints "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)". */
export function pgClientVersion(program: string): Command {
  return { argv: [program, "--version"], timeoutMs: 20_000 };
}
