/**
 * The remote commands of `host add`, as argv (quoted once, by ../ssh/quote, when sent). Pure:
 * the dry run prints exactly these, and the tests compare them exactly.
 */

export const REMOTE_UNIT = "odooops.service";

/**
 * What install.sh and init create on the remote: the FHS paths (the agent is the host's, no
 * --root there). Tests give temp paths and no system account so nothing outside them changes.
 */
export interface RemoteLayout {
  configDir: string;
  dataDir: string;
  unitFile: string;
  /** install.sh creates the `odooops` user and group. */
  account: boolean;
}

export const FHS_LAYOUT: RemoteLayout = {
  configDir: "/etc/odooops",
  dataDir: "/var/lib/odooops",
  unitFile: "/etc/systemd/system/odooops.service",
  account: true,
};

const configYaml = (l: RemoteLayout) => `${l.configDir}/config.yaml`;
/** Where the daemon's output goes when there is no systemd to keep it. */
export const backgroundLog = (l: RemoteLayout) => `${l.dataDir}/logs/agent-serve.log`;

export function remoteBinary(prefix: string): string {
  return `${prefix}/bin/odooops`;
}

/** A private staging dir (0700) for the uploads; its path is printed by mktemp. */
export function makeStagingDir(): string[] {
  return ["mktemp", "-d", "/var/tmp/odooops-add.XXXXXXXX"];
}

export function removeDir(dir: string): string[] {
  return ["rm", "-rf", "--", dir];
}

export function installCommand(opts: { stagingDir: string; prefix: string; withDeps: boolean }): string[] {
  return [
    "sh",
    `${opts.stagingDir}/install.sh`,
    "--binary",
    `${opts.stagingDir}/odooops`,
    "--prefix",
    opts.prefix,
    ...(opts.withDeps ? ["--with-deps"] : []),
  ];
}

export function initCommand(opts: { prefix: string; joinUrl: string; joinToken: string }): string[] {
  return [
    remoteBinary(opts.prefix),
    "init",
    "--role",
    "agent",
    "--join-url",
    opts.joinUrl,
    "--join-token",
    opts.joinToken,
    "--yes",
  ];
}

/**
 * What exists before install/init, so a failure can remove exactly what this run added:
 * one `name=yes|no` line per thing (a fixed script; the paths come as its arguments).
 */
export function snapshotCommand(prefix: string, l: RemoteLayout): string[] {
  return [
    "sh",
    "-c",
    [
      'for p in "$@"; do if [ -e "$p" ]; then echo "$p=yes"; else echo "$p=no"; fi; done',
      'if getent passwd odooops >/dev/null; then echo "user=yes"; else echo "user=no"; fi',
      'if getent group odooops >/dev/null; then echo "group=yes"; else echo "group=no"; fi',
    ].join("; "),
    "snapshot",
    `${prefix}/bin`,
    remoteBinary(prefix),
    l.configDir,
    configYaml(l),
    l.dataDir,
    l.unitFile,
  ];
}

export function parseSnapshot(out: string): Record<string, boolean> {
  const seen: Record<string, boolean> = {};
  for (const line of out.split("\n")) {
    const i = line.lastIndexOf("=");
    if (i > 0) seen[line.slice(0, i)] = line.slice(i + 1) === "yes";
  }
  return seen;
}

/** Keeps the installed binary (same dir, so the undo is a rename back). */
export function backupBinary(prefix: string): string[] {
  return ["cp", "-p", "--", remoteBinary(prefix), `${remoteBinary(prefix)}.before-host-add`];
}

export function restoreBinary(prefix: string): string[] {
  return ["mv", "-f", "--", `${remoteBinary(prefix)}.before-host-add`, remoteBinary(prefix)];
}

export function dropBinaryBackup(prefix: string): string[] {
  return ["rm", "-f", "--", `${remoteBinary(prefix)}.before-host-add`];
}

/**
 * Undo of install.sh: the binary back as it was; the config and data dirs and the account only
 * when this run created them (then everything in them came from this run: provably ours).
 */
export function uninstallCommands(prefix: string, l: RemoteLayout, before: Record<string, boolean>): string[][] {
  const out: string[][] = [];
  const bin = remoteBinary(prefix);
  if (before[bin] === true) out.push(restoreBinary(prefix));
  else out.push(["rm", "-f", "--", bin]);
  // install.sh's mkdir -p of PREFIX/bin; left when something else has moved in since.
  if (before[`${prefix}/bin`] === false) out.push(["rmdir", "--ignore-fail-on-non-empty", "--", `${prefix}/bin`]);
  if (before[l.configDir] === false) out.push(["rm", "-rf", "--", l.configDir]);
  if (before[l.dataDir] === false) out.push(["rm", "-rf", "--", l.dataDir]);
  if (l.account && before.user === false) out.push(["userdel", "odooops"]);
  if (l.account && before.group === false) out.push(["groupdel", "odooops"]);
  return out;
}

/**
 * Undo of init on a host that had no config: the unit stopped and removed when this run wrote
 * it, the config and join files removed (the dirs themselves are install's to undo).
 */
export function uninitCommands(l: RemoteLayout, before: Record<string, boolean>, systemd: boolean): string[][] {
  if (before[configYaml(l)] === true) return [];
  const newUnit = before[l.unitFile] === false;
  return [
    ...(newUnit && systemd ? [["systemctl", "disable", "--now", REMOTE_UNIT]] : []),
    ...(newUnit ? [["rm", "-f", "--", l.unitFile]] : []),
    ["rm", "-f", "--", configYaml(l), `${l.configDir}/join.yaml`],
  ];
}

/**
 * systemd when it is PID 1; otherwise the unit's ExecStart (`odooops serve`) detached in the
 * background (a fixed script; binary and log file are its arguments), printing its pid.
 */
export function startCommand(prefix: string, l: RemoteLayout, systemd: boolean): string[] {
  if (systemd) return ["systemctl", "enable", "--now", REMOTE_UNIT];
  return [
    "sh",
    "-c",
    'mkdir -p "$(dirname "$2")" && nohup "$1" serve >>"$2" 2>&1 </dev/null & echo $!',
    "start",
    remoteBinary(prefix),
    backgroundLog(l),
  ];
}

export function stopCommand(systemd: boolean, pid: string | null): string[] | null {
  if (systemd) return ["systemctl", "disable", "--now", REMOTE_UNIT];
  return pid ? ["kill", "--", pid] : null;
}
