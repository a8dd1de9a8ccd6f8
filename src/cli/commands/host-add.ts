/**
 * `odooops host add root@ADDR`: runs in this CLI process on the coordinator, because the SSH
 * credential (--identity or the operator's agent) and the binary to copy are this process's;
 * the coordinator is asked, through the API and with the operator's own rights, only for a join
 * token and the new agent's heartbeat.
 */
import { join, resolve } from "node:path";
import { homedir } from "node:os";
import { existsSync } from "node:fs";
import { defineCommand } from "citty";
import { resolvePaths } from "../../config/paths";
import { Invalid } from "../../errors";
import { apiCoordinator } from "../host-coordinator";
import { FHS_LAYOUT } from "../../fleet/add/commands";
import { type HostAddReport, hostAdd } from "../../fleet/add/host-add";
import type { StepEvent } from "../../fleet/add/steps";
import { SshSession } from "../../fleet/ssh/connection";
import { client, type CliIo } from "../io";
import { note, printJson } from "../output";

/** `root@10.0.0.5`, `10.0.0.5` (root), `root@[fd00::5]`. */
export function parseDestination(value: string): { username: string; host: string } {
  const m = /^(?:([a-z_][a-z0-9_.-]*)@)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)$/.exec(value);
  if (!m?.[2]) throw new Invalid(`${JSON.stringify(value)}: expected root@ADDRESS`);
  return { username: m[1] ?? "root", host: m[2].replace(/^\[(.*)\]$/, "$1") };
}

/** `--label k=v`, as often as needed (citty keeps only the last: read from rawArgs). */
export function parseLabels(rawArgs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < rawArgs.length; i++) {
    const a = rawArgs[i] ?? "";
    const v = a === "--label" ? rawArgs[++i] : a.startsWith("--label=") ? a.slice(8) : undefined;
    if (v === undefined) continue;
    const m = /^([a-z0-9][a-z0-9._/-]{0,62})=([A-Za-z0-9._-]{0,63})$/.exec(v);
    if (!m?.[1]) throw new Invalid(`--label ${JSON.stringify(v)}: expected key=value (letters, digits, . _ - /)`);
    out[m[1]] = m[2] ?? "";
  }
  return out;
}

/** The file to copy: this executable when compiled, else the build (bun src/main.ts in dev). */
export function ownBinary(execPath = process.execPath, repo = resolve(import.meta.dir, "..", "..", "..")): string {
  const compiled = !["bun", "node"].some((n) => execPath.endsWith(`/${n}`));
  if (compiled) return execPath;
  const dist = join(repo, "dist", "odooops");
  if (existsSync(dist)) return dist;
  throw new Invalid("host add copies the compiled odooops binary: run it from the binary (or `bun run build` first)");
}

function printEvent(io: CliIo, e: StepEvent | { kind: "plan"; lines: string[] }) {
  if (io.globals.quiet) return;
  if (e.kind === "plan") for (const l of e.lines) io.stderr(`  would: ${l}\n`);
  else if (e.kind === "start") io.stderr(`[${e.index}/${e.total}] ${e.step} …\n`);
  else if (e.kind === "done")
    io.stderr(`[${e.index}/${e.total}] ${e.step} ok (${(e.ms / 1000).toFixed(1)} s): ${e.detail}\n`);
  else if (e.kind === "failed") io.stderr(`[${e.index}/${e.total}] ${e.step} FAILED (${(e.ms / 1000).toFixed(1)} s)\n`);
  else io.stderr(`  undo: ${e.what}${e.ok ? "" : ` FAILED: ${e.error}`}\n`);
}

export function hostAddCommand(
  io: CliIo,
  deps: { connect?: typeof SshSession.connect; binary?: string; installSh?: string } = {},
) {
  return defineCommand({
    meta: { name: "add", description: "Install and enroll an agent on a host over SSH (run on the coordinator)" },
    args: {
      destination: { type: "positional", required: true, description: "root@ADDRESS" },
      port: { type: "string", description: "SSH port (default 22)" },
      identity: { type: "string", description: "private key file (default: the SSH agent, SSH_AUTH_SOCK)" },
      fingerprint: { type: "string", description: "pin the host key: SHA256:… (else known_hosts decides)" },
      name: { type: "string", description: "host name in the fleet (default: the address)" },
      label: { type: "string", description: "k=v, repeatable: placement labels" },
      prefix: { type: "string", description: "install the binary as PREFIX/bin/odooops (default /usr/local)" },
      "with-deps": { type: "boolean", description: "let install.sh apt-get install docker, PostgreSQL, nginx" },
      "dry-run": { type: "boolean", description: "check the host key and preflight, print the rest, change nothing" },
      "heartbeat-timeout": { type: "string", description: "seconds to wait for the first heartbeat (default 120)" },
    },
    async run({ args, rawArgs }) {
      const dest = parseDestination(args.destination);
      const port = args.port === undefined ? 22 : Number(args.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Invalid(`--port ${args.port}: 1-65535`);
      if (args.fingerprint !== undefined && !/^SHA256:[A-Za-z0-9+/]{43}$/.test(args.fingerprint))
        throw new Invalid(
          `--fingerprint ${args.fingerprint}: expected SHA256: and 43 base64 characters (ssh-keygen -lf)`,
        );
      const prefix = (args.prefix ?? "/usr/local").replace(/\/+$/, "");
      if (!prefix.startsWith("/")) throw new Invalid(`--prefix must be absolute: ${args.prefix}`);
      const hb = args["heartbeat-timeout"] === undefined ? 120 : Number(args["heartbeat-timeout"]);
      if (!Number.isFinite(hb) || hb <= 0)
        throw new Invalid(`--heartbeat-timeout ${args["heartbeat-timeout"]}: seconds > 0`);
      const paths = resolvePaths(io.globals.root ?? io.env.ODOOOPS_ROOT);
      const coordinatorKnownHosts = join(paths.dataDir, "known_hosts");
      const report: HostAddReport = await hostAdd(
        {
          target: {
            ...dest,
            port,
            identityFile: args.identity,
            fingerprint: args.fingerprint,
            knownHostsFiles: [join(io.env.HOME || homedir(), ".ssh", "known_hosts"), coordinatorKnownHosts],
          },
          name: args.name ?? dest.host,
          labels: parseLabels(rawArgs),
          withDeps: args["with-deps"] === true,
          dryRun: args["dry-run"] === true,
          prefix,
          binary: deps.binary ?? ownBinary(),
          installSh: deps.installSh ?? resolve(import.meta.dir, "..", "..", "..", "install.sh"),
          layout: FHS_LAYOUT,
          knownHostsFile: coordinatorKnownHosts,
          heartbeatTimeoutMs: hb * 1000,
          joinTokenTtlMs: 15 * 60_000,
        },
        {
          coordinator: apiCoordinator(client(io)),
          connect: (t) => (deps.connect ?? SshSession.connect)(t, io.env),
          onEvent: (e) => printEvent(io, e),
        },
      );
      if (io.globals.json) printJson(io, report);
      else
        note(
          io,
          {
            added: `${report.host} added (${report.started === "systemd" ? "systemd unit" : "odooops serve in the background: no systemd on the host"})`,
            upgraded: `${report.host} upgraded`,
            unchanged: `${report.host}: nothing to do`,
            "dry-run": "dry run: nothing was changed on the host",
          }[report.outcome],
        );
    },
  });
}
