/**
 * The CLI: citty commands built over an injected CliIo; one renderer turns errors into
 * messages and exit codes (0 ok, 1 failure, 2 usage, 3 auth, 4 not found/conflict).
 */
import { stripVTControlCharacters } from "node:util";
import { type CommandDef, defineCommand, renderUsage, runCommand } from "citty";
import { AppError } from "../errors";
import { VERSION } from "../version";
import { type CliIo, extractGlobals } from "./io";
import { AlreadyReported } from "./output";

export function buildCli(io: CliIo) {
  return defineCommand({
    meta: { name: "odooops", version: VERSION, description: "Odoo operations on servers you own" },
    args: {
      url: { type: "string", description: "coordinator URL (env ODOOOPS_URL)" },
      via: { type: "string", description: "reach the coordinator over SSH: ssh://user@host[:port] (env ODOOOPS_VIA)" },
      root: { type: "string", description: "root directory of all odooops paths (env ODOOOPS_ROOT)" },
      json: { type: "boolean", description: "machine-readable JSON on stdout" },
      quiet: { type: "boolean", alias: "q", description: "no progress or notes on stderr" },
    },
    // Loaded on use: `--version` and one command must not pay for every command's modules.
    subCommands: {
      serve: () => import("./commands/serve").then((m) => m.serveCommand(io)),
      auth: () => import("./commands/auth").then((m) => m.authCommand(io)),
      user: () => import("./commands/user").then((m) => m.userCommand(io)),
      env: () => import("./commands/env").then((m) => m.envCommand(io)),
      db: () => import("./commands/db").then((m) => m.dbCommand(io)),
      jobs: () => import("./commands/jobs").then((m) => m.jobsCommand(io)),
      init: () => import("./commands/init").then((m) => m.initCommand(io)),
      doctor: () => import("./commands/doctor").then((m) => m.doctorCommand(io)),
      certs: () => import("./commands/certs").then((m) => m.certsCommand(io)),
      deploy: () => import("./commands/deploy").then((m) => m.deployCommand(io)),
      rollback: () => import("./commands/rollback").then((m) => m.rollbackCommand(io)),
      project: () => import("./commands/project").then((m) => m.projectCommand(io)),
      policy: () => import("./commands/policy").then((m) => m.policyCommand(io)),
      audit: () => import("./commands/audit").then((m) => m.auditCommand(io)),
      dr: () => import("./commands/dr").then((m) => m.drCommand(io)),
      health: () => import("./commands/health").then((m) => m.healthCommand(io)),
      report: () => import("./commands/report").then((m) => m.reportCommand(io)),
      host: () => import("./commands/host").then((m) => m.hostCommand(io)),
      "api-stdio": () => import("./commands/api-stdio").then((m) => m.apiStdioCommand(io)),
    },
  });
}

/**
 * The command whose usage `--help` shows, or the first word that names no subcommand of a
 * command that has some (a positional argument of a leaf command is not a command).
 */
async function resolveForHelp(
  cmd: CommandDef,
  args: string[],
): Promise<{ cmd: CommandDef; parent?: CommandDef } | { unknown: string }> {
  let current = cmd;
  let parent: CommandDef | undefined;
  for (const a of args) {
    if (a.startsWith("-")) continue;
    const subs = (await (typeof current.subCommands === "function" ? current.subCommands() : current.subCommands)) as
      | Record<string, CommandDef>
      | undefined;
    if (!subs) break;
    const entry = subs[a] as CommandDef | (() => Promise<CommandDef>) | undefined;
    const next = typeof entry === "function" ? await entry() : entry;
    if (!next) return { unknown: a };
    parent = current;
    current = next;
  }
  return { cmd: current, parent };
}

/** Runs the CLI and returns the exit code (the caller exits). */
export async function runCli(
  argv: string[],
  makeIo: (g: ReturnType<typeof extractGlobals>["globals"]) => CliIo,
): Promise<number> {
  const { globals, rest } = extractGlobals(argv);
  const io = makeIo(globals);
  const cli = buildCli(io);
  if (rest.length === 1 && (rest[0] === "--version" || rest[0] === "-v")) {
    io.stdout(`${VERSION}\n`);
    return 0;
  }
  if (rest.length === 0 || rest.includes("--help") || rest.includes("-h")) {
    const help = await resolveForHelp(cli as unknown as CommandDef, rest);
    if ("unknown" in help) {
      // Same words as citty's own error for the command without --help.
      io.stderr(`error: Unknown command ${help.unknown}\nRun with --help for usage.\n`);
      return 2;
    }
    io.stdout(`${await renderUsage(help.cmd, help.parent)}\n`);
    return rest.length === 0 ? 2 : 0;
  }
  try {
    await runCommand(cli, { rawArgs: rest });
    return 0;
  } catch (e) {
    return renderError(io, e);
  } finally {
    io.close?.();
  }
}

export function renderError(io: CliIo, e: unknown): number {
  if (e instanceof AlreadyReported) return e.exitCode;
  if (e instanceof AppError) {
    if (io.globals.json)
      io.stdout(`${JSON.stringify({ error: { code: e.code, message: e.message, details: e.details } })}\n`);
    io.stderr(`error: ${e.message}\n`);
    return e.exitCode;
  }
  if (e instanceof Error && e.name === "CLIError") {
    io.stderr(`error: ${stripVTControlCharacters(e.message)}\nRun with --help for usage.\n`);
    return 2;
  }
  io.stderr(`error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  return 1;
}
