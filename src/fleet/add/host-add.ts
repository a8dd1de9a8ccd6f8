/**
 * `odooops host add`: host key → preflight → upload → install.sh → join token → init → start →
 * first heartbeat, each step timed, each change undone when a later step fails. It runs where
 * the operator's SSH credential is (the CLI on the coordinator), and asks the coordinator only
 * for what it owns: join tokens and heartbeats (CoordinatorSeam).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { Invalid } from "../../errors";
import { Secrets } from "../../log";
import type { SshSession, SshTarget } from "../ssh/connection";
import { sha256File } from "../ssh/connection";
import { hostPattern, knownKeys } from "../ssh/known-hosts";
import { remoteCommand } from "../ssh/quote";
import {
  backupBinary,
  dropBinaryBackup,
  initCommand,
  installCommand,
  makeStagingDir,
  parseSnapshot,
  type RemoteLayout,
  remoteBinary,
  removeDir,
  snapshotCommand,
  startCommand,
  stopCommand,
  uninitCommands,
  uninstallCommands,
} from "./commands";
import { type Preflight, type ProbeName, type ProbeOutput, preflightProbes, readPreflight } from "./preflight";
import { runSteps, type Step, type StepEvent, type StepReport } from "./steps";

/** What host add needs from the coordinator (the fleet's hosts and join tokens own these). */
export interface CoordinatorSeam {
  /** The host's row, when enrolled. */
  host(name: string): Promise<{ lastHeartbeatAt: string | null } | null>;
  issueJoinToken(opts: {
    name: string;
    labels: Record<string, string>;
    ttlMs: number;
  }): Promise<{ token: string; joinUrl: string; expiresAt: string }>;
  /** Resolves at the first heartbeat of `name` after `since`; throws after `timeoutMs`. */
  waitForHeartbeat(name: string, opts: { since: string; timeoutMs: number }): Promise<{ at: string }>;
}

export interface HostAddInput {
  target: SshTarget;
  name: string;
  labels: Record<string, string>;
  withDeps: boolean;
  dryRun: boolean;
  /** install.sh --prefix on the remote. */
  prefix: string;
  /** Local files uploaded: this very binary, and install.sh. */
  binary: string;
  installSh: string;
  layout: RemoteLayout;
  /** The coordinator's own known_hosts, where a pinned key is recorded after success. */
  knownHostsFile: string;
  heartbeatTimeoutMs: number;
  joinTokenTtlMs: number;
}

export interface HostAddDeps {
  coordinator: CoordinatorSeam;
  connect(target: SshTarget): Promise<SshSession>;
  onEvent(e: StepEvent | { kind: "plan"; lines: string[] }): void;
}

export interface HostAddReport {
  host: string;
  outcome: "added" | "upgraded" | "unchanged" | "dry-run";
  steps: StepReport[];
  preflight: Preflight | null;
  /** How the daemon was started on the remote. */
  started: "systemd" | "background" | null;
}

const PROBE_TIMEOUT_MS = 60_000;
const PROBE_CONCURRENCY = 4;

export async function runPreflight(
  session: SshSession,
  opts: { withDeps: boolean; prefix: string },
): Promise<Preflight> {
  const probes = preflightProbes(opts.prefix);
  const out = {} as Record<ProbeName, ProbeOutput>;
  const entries = Object.entries(probes) as [ProbeName, string[]][];
  // A few channels at once (sshd's MaxSessions is 10): each exec costs a fork on the remote.
  for (let i = 0; i < entries.length; i += PROBE_CONCURRENCY) {
    await Promise.all(
      entries.slice(i, i + PROBE_CONCURRENCY).map(async ([name, argv]) => {
        // A missing program answers 127 from the shell: a fact (not installed), not an error.
        out[name] = await session.exec(argv, { nothrow: true, timeoutMs: PROBE_TIMEOUT_MS });
      }),
    );
  }
  return readPreflight(out, opts);
}

/** Appends the accepted key to the coordinator's known_hosts unless an entry already holds it. */
export function recordHostKey(file: string, target: SshTarget, key: { keyType: string; key: Buffer }): boolean {
  const name = hostPattern(target.host, target.port);
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  if (knownKeys(text, name).some((k) => k.key.equals(key.key))) return false;
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  appendFileSync(file, `${name} ${key.keyType} ${key.key.toString("base64")}\n`, { mode: 0o600 });
  return true;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export async function hostAdd(input: HostAddInput, deps: HostAddDeps): Promise<HostAddReport> {
  const { target, prefix, layout } = input;
  const local = await sha256File(input.binary);
  let session: SshSession | null = null;
  let preflight: Preflight | null = null;
  let enrolled = false;
  let unchanged = false;
  let staging: string | null = null;
  let before: Record<string, boolean> = {};
  let started: HostAddReport["started"] = null;
  let join: { token: string; joinUrl: string } | null = null;

  const ssh = () => {
    if (!session) throw new Error("no SSH session");
    return session;
  };
  const undoExec = async (argv: string[]) => {
    await ssh().exec(argv, { timeoutMs: 120_000 });
  };

  const first: Step[] = [
    {
      name: "host key",
      async run() {
        session = await deps.connect(target);
        return `${session.hostKey.fingerprint} (${session.hostKey.how})`;
      },
    },
    {
      name: "compare",
      async run() {
        const row = await deps.coordinator.host(input.name);
        enrolled = row?.lastHeartbeatAt != null;
        const remote = await ssh().remoteSha256(remoteBinary(prefix));
        unchanged = enrolled && remote === local.sha256;
        if (unchanged)
          return `enrolled and ${remoteBinary(prefix)} is this binary (sha256 ${local.sha256.slice(0, 12)}): nothing to do`;
        if (enrolled)
          return `enrolled; ${remoteBinary(prefix)} differs (${remote?.slice(0, 12) ?? "missing"}): upgrade`;
        return row ? "known to the coordinator but never heard from: install and enroll" : "new host";
      },
    },
  ];
  const report = (outcome: HostAddReport["outcome"], steps: StepReport[]): HostAddReport => ({
    host: input.name,
    outcome,
    steps,
    preflight,
    started,
  });

  try {
    const head = await runSteps(first, deps.onEvent);
    const pin = () => {
      const s = session as SshSession | null;
      if (target.fingerprint && s) recordHostKey(input.knownHostsFile, target, s.hostKey);
    };
    if (unchanged) {
      pin();
      return report("unchanged", head);
    }

    const checks = await runSteps(
      [
        {
          name: "preflight",
          async run() {
            preflight = await runPreflight(ssh(), { withDeps: input.withDeps, prefix });
            const f = preflight.facts;
            if (preflight.problems.length > 0)
              throw new Invalid(`the host is not ready:\n- ${preflight.problems.join("\n- ")}`);
            return `${f.os.name}, ${f.arch}, ${f.cores} cores, ${(f.memoryBytes / 1024 ** 3).toFixed(1)} GiB, docker ${f.docker ?? "(to install)"}, PostgreSQL ${f.postgres ?? "(to install)"}, nginx ${f.nginx ?? "(to install)"}, ${f.systemd ? "systemd" : "no systemd"}`;
          },
        },
      ],
      deps.onEvent,
    );
    const systemd = (preflight as Preflight | null)?.facts.systemd === true;

    if (input.dryRun) {
      const stage = "<staging dir>";
      const token = "<one-time join token>";
      deps.onEvent({
        kind: "plan",
        lines: [
          `upload ${input.binary} (sha256 ${local.sha256}) and ${input.installSh} to ${stage} (mktemp -d), verified with sha256sum`,
          `install: ${remoteCommand(installCommand({ stagingDir: stage, prefix, withDeps: input.withDeps }))}`,
          ...(enrolled
            ? ["(enrolled already: no new join token, init or start; install.sh restarts the running unit)"]
            : [
                "join token: one-time, from the coordinator",
                `init: ${remoteCommand(initCommand({ prefix, joinUrl: "<coordinator URL>", joinToken: token }))}`,
                `start: ${remoteCommand(startCommand(prefix, layout, systemd))}`,
              ]),
          `wait for the first heartbeat of ${input.name} (up to ${seconds(input.heartbeatTimeoutMs)})`,
        ],
      });
      return report("dry-run", [...head, ...checks]);
    }

    const since = new Date().toISOString();
    const change: Step[] = [
      {
        name: "upload",
        async run(ctx) {
          staging = (await ssh().exec(makeStagingDir())).stdout.trim();
          const dir = staging;
          ctx.undo(`removed ${dir}`, () => undoExec(removeDir(dir)));
          await ssh().upload(input.binary, `${dir}/odooops`, 0o755);
          await ssh().upload(input.installSh, `${dir}/install.sh`, 0o644);
          return `${(local.bytes / 1024 ** 2).toFixed(1)} MB to ${dir}, sha256 ${local.sha256.slice(0, 12)} verified`;
        },
      },
      {
        name: "install",
        async run(ctx) {
          before = parseSnapshot((await ssh().exec(snapshotCommand(prefix, layout))).stdout);
          if (before[remoteBinary(prefix)]) await ssh().exec(backupBinary(prefix));
          const undo = uninstallCommands(prefix, layout, before);
          ctx.undo(`install undone (${undo.map((a) => a.join(" ")).join("; ")})`, async () => {
            for (const argv of undo) await undoExec(argv);
          });
          const r = await ssh().exec(installCommand({ stagingDir: staging ?? "", prefix, withDeps: input.withDeps }), {
            timeoutMs: 20 * 60_000,
          });
          return r.stdout.trim().split("\n").pop() ?? "";
        },
      },
      ...(enrolled
        ? []
        : ([
            {
              name: "join token",
              async run() {
                const t = await deps.coordinator.issueJoinToken({
                  name: input.name,
                  labels: input.labels,
                  ttlMs: input.joinTokenTtlMs,
                });
                Secrets.add(t.token);
                join = t;
                return `for ${t.joinUrl}, expires ${t.expiresAt}`;
              },
            },
            {
              name: "init",
              async run(ctx) {
                const undo = uninitCommands(layout, before, systemd);
                if (undo.length > 0)
                  ctx.undo(`init undone (${undo.map((a) => a.join(" ")).join("; ")})`, async () => {
                    for (const argv of undo) await undoExec(argv);
                  });
                if (!join) throw new Error("no join token");
                await ssh().exec(initCommand({ prefix, joinUrl: join.joinUrl, joinToken: join.token }), {
                  timeoutMs: 10 * 60_000,
                });
                return "agent configured";
              },
            },
            {
              name: "start",
              async run(ctx) {
                const r = await ssh().exec(startCommand(prefix, layout, systemd));
                const pid = systemd ? null : r.stdout.trim();
                started = systemd ? "systemd" : "background";
                const stop = stopCommand(systemd, pid);
                if (stop) ctx.undo(`stopped (${stop.join(" ")})`, () => undoExec(stop));
                return systemd
                  ? "systemctl enable --now odooops.service"
                  : `no systemd: odooops serve in the background, pid ${pid}`;
              },
            },
          ] satisfies Step[])),
      {
        name: "heartbeat",
        async run() {
          const hb = await deps.coordinator.waitForHeartbeat(input.name, {
            since,
            timeoutMs: input.heartbeatTimeoutMs,
          });
          return `first heartbeat at ${hb.at}`;
        },
      },
    ];
    const rest = await runSteps(change, deps.onEvent);
    if (before[remoteBinary(prefix)]) await ssh().exec(dropBinaryBackup(prefix), { nothrow: true });
    pin();
    return report(enrolled ? "upgraded" : "added", [...head, ...checks, ...rest]);
  } finally {
    const s = session as SshSession | null;
    if (s && staging) await s.exec(removeDir(staging), { nothrow: true }).catch(() => undefined);
    s?.close();
  }
}
