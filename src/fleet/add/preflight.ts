/**
 * What a host must have before odooops is installed on it: the probes as argv (run over SSH
 * by the caller) and a pure reading of their outputs into facts and one refusal per missing
 * prerequisite. Docker, PostgreSQL and nginx may be missing when --with-deps lets install.sh
 * add them with apt-get.
 */

export interface ProbeOutput {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Disk paths that exist on any Debian host: the data (/var/lib) and the binary's prefix. */
export function preflightProbes(prefix: string) {
  return {
    uid: ["id", "-u"],
    osRelease: ["cat", "/etc/os-release"],
    arch: ["uname", "-m"],
    cores: ["nproc"],
    memory: ["cat", "/proc/meminfo"],
    disk: ["df", "-Pk", "--", "/var/lib", prefix],
    docker: ["docker", "version", "--format", "{{.Server.Version}}"],
    postgres: ["psql", "--version"],
    nginx: ["nginx", "-v"],
    aptGet: ["apt-get", "--version"],
    systemd: ["test", "-d", "/run/systemd/system"],
  } satisfies Record<string, string[]>;
}

export type ProbeName = keyof ReturnType<typeof preflightProbes>;

export const MIN_MEMORY_BYTES = 1024 ** 3;
export const MIN_DATA_FREE_BYTES = 5 * 1024 ** 3;
/** The binary (~120 MB) plus its staged copy during an upgrade. */
export const MIN_PREFIX_FREE_BYTES = 400 * 1024 ** 2;

export interface PreflightFacts {
  os: { id: string; idLike: string; name: string; versionId: string };
  arch: string;
  cores: number;
  memoryBytes: number;
  diskFree: { path: string; bytes: number }[];
  docker: string | null;
  postgres: string | null;
  nginx: string | null;
  /** systemd is PID 1: the unit is started with systemctl (else the daemon runs in the background). */
  systemd: boolean;
}

export interface Preflight {
  facts: PreflightFacts;
  problems: string[];
}

/** /etc/os-release KEY=value lines, quotes removed (read as data, never sourced). */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m?.[1]) out[m[1]] = (m[2] ?? "").replace(/^(["'])(.*)\1$/, "$2");
  }
  return out;
}

export function parseMeminfo(text: string): number {
  const m = /^MemTotal:\s+(\d+)\s*kB/m.exec(text);
  return m?.[1] ? Number(m[1]) * 1024 : 0;
}

/** `df -Pk` rows in the order of the paths asked (POSIX format: one line per path). */
export function parseDf(text: string, paths: string[]): { path: string; bytes: number }[] {
  const rows = text.trim().split("\n").slice(1);
  return paths.map((path, i) => {
    const cols = (rows[i] ?? "").trim().split(/\s+/);
    const avail = Number(cols[3]);
    return { path, bytes: Number.isFinite(avail) ? avail * 1024 : 0 };
  });
}

function version(p: ProbeOutput, re: RegExp): string | null {
  if (p.exitCode !== 0) return null;
  const m = re.exec(`${p.stdout}\n${p.stderr}`);
  return m?.[1] ?? null;
}

const gib = (n: number) => `${(n / 1024 ** 3).toFixed(1)} GiB`;

export function readPreflight(
  out: Record<ProbeName, ProbeOutput>,
  opts: { withDeps: boolean; prefix: string },
): Preflight {
  const os = parseOsRelease(out.osRelease.stdout);
  const facts: PreflightFacts = {
    os: {
      id: os.ID ?? "",
      idLike: os.ID_LIKE ?? "",
      name: os.PRETTY_NAME ?? os.ID ?? "unknown",
      versionId: os.VERSION_ID ?? "",
    },
    arch: out.arch.stdout.trim(),
    cores: Number.parseInt(out.cores.stdout.trim(), 10) || 0,
    memoryBytes: parseMeminfo(out.memory.stdout),
    diskFree: parseDf(out.disk.stdout, ["/var/lib", opts.prefix]),
    docker: version(out.docker, /^(\d+\.\d+[^\s]*)/m),
    postgres: version(out.postgres, /PostgreSQL\)\s+(\d+(?:\.\d+)*)/),
    nginx: version(out.nginx, /nginx\/(\d+(?:\.\d+)*)/),
    systemd: out.systemd.exitCode === 0,
  };
  const problems: string[] = [];
  if (out.uid.stdout.trim() !== "0")
    problems.push(
      "the SSH user is not root (uid 0): install.sh creates a system user and /etc/odooops; connect as root@…",
    );
  const family = ` ${facts.os.id} ${facts.os.idLike} `;
  if (out.osRelease.exitCode !== 0) problems.push("cannot read /etc/os-release: odooops supports Debian and Ubuntu");
  else if (!family.includes(" debian ") && !family.includes(" ubuntu "))
    problems.push(`unsupported OS ${facts.os.name}: odooops supports Debian and Ubuntu and their derivatives`);
  if (!["x86_64", "amd64", "aarch64", "arm64"].includes(facts.arch))
    problems.push(`unsupported CPU architecture ${facts.arch || "(unknown)"}: odooops is built for x86_64 and aarch64`);
  if (facts.cores < 1) problems.push("cannot tell the number of CPU cores (nproc failed)");
  if (facts.memoryBytes < MIN_MEMORY_BYTES)
    problems.push(`${gib(facts.memoryBytes)} of memory: at least ${gib(MIN_MEMORY_BYTES)} is needed to run Odoo`);
  const [data, bin] = facts.diskFree;
  if (out.disk.exitCode !== 0) problems.push(`cannot measure free disk space (df failed: ${out.disk.stderr.trim()})`);
  else {
    if (data && data.bytes < MIN_DATA_FREE_BYTES)
      problems.push(
        `${gib(data.bytes)} free on /var/lib: at least ${gib(MIN_DATA_FREE_BYTES)} is needed for images, databases and backups`,
      );
    if (bin && bin.bytes < MIN_PREFIX_FREE_BYTES)
      problems.push(`${gib(bin.bytes)} free on ${opts.prefix}: the binary needs ${gib(MIN_PREFIX_FREE_BYTES)}`);
  }
  const missing = [
    facts.docker === null ? "docker (docker.io)" : null,
    facts.postgres === null ? "PostgreSQL (postgresql)" : null,
    facts.nginx === null ? "nginx" : null,
  ].filter((m): m is string => m !== null);
  if (missing.length > 0 && !opts.withDeps)
    for (const m of missing) problems.push(`${m} is not installed: install it, or rerun with --with-deps`);
  if (missing.length > 0 && opts.withDeps && out.aptGet.exitCode !== 0)
    problems.push(`--with-deps needs apt-get to install ${missing.join(", ")}, and apt-get is not there`);
  return { facts, problems };
}
