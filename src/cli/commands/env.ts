import { defineCommand } from "citty";
import type { EnvDetail, EnvSummary } from "../../env/schema";
import { TIERS } from "../../env/vocabulary";
import { Invalid } from "../../errors";
import { confirmDestructive } from "../confirm";
import { flag } from "../client";
import { client, type CliIo } from "../io";
import { formatBytes } from "../../bytes";
import { storageQuotaText } from "../storage-quota";
import { note, printJson, printTable } from "../output";
import { parseLabelArgs } from "../../fleet/labels";
import { repeatedFlag } from "./host";
import { afterEnqueue } from "./jobs";
import { envMoveCommand } from "./env-move";

const nameArg = { type: "positional", required: true, description: "environment name" } as const;
const waitArg = { type: "boolean", description: "follow the job and render its steps until it ends" } as const;

function checkTier(tier: string | undefined): void {
  if (tier !== undefined && !(TIERS as readonly string[]).includes(tier))
    throw new Invalid(`unknown tier ${JSON.stringify(tier)}; one of ${TIERS.join(", ")}`);
}

function numberFlag(flag: string, value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n))
    throw new Invalid(`${flag} must be a number, not ${JSON.stringify(value)}`);
  return n;
}

/** An agent's env whose sizes were never reported says where they are missing from. */
export function diskLine(disk: EnvDetail["disk"]): string {
  const unknown = disk.measuredAt === null && disk.measuredOn ? `unknown on host ${disk.measuredOn}` : "unknown";
  return `database ${formatBytes(disk.databaseBytes, unknown)}, filestore ${formatBytes(disk.filestoreBytes, unknown)}`;
}

function showDetail(io: CliIo, d: EnvDetail): void {
  const rows: [string, string][] = [
    ["name", d.name],
    ["tier", d.tier],
    ["status", `${d.status}${d.statusReason ? ` (${d.statusReason})` : ""}`],
    ["url", d.url],
    ["host", d.host ?? "-"],
    ...(d.move ? ([["move", d.move]] as [string, string][]) : []),
    ["branch", d.branch ?? "-"],
    ["database", d.databaseUrl],
    ["image", d.odooImage],
    ["release", d.currentRelease === null ? "-" : String(d.currentRelease)],
    ["workers", String(d.workers)],
    ["limits", `${d.cpus} CPU, ${d.memoryMb} MiB`],
    ["disk", diskLine(d.disk)],
    ...(d.storageQuota.quotaBytes !== null
      ? ([["quota", `storage ${storageQuotaText(d.storageQuota)}`]] as [string, string][])
      : []),
    ["created", `${d.createdAt} by ${d.createdBy ?? "-"}`],
    ["expires", d.expiresAt ?? "never"],
    ...(d.waitingForHost ? ([["waiting", d.waitingForHost]] as [string, string][]) : []),
  ];
  for (const [k, v] of rows) io.stdout(`${k.padEnd(9)} ${v}\n`);
}

/** `env create --dry-run` in a fleet: the host, why, and why the others were passed over. */
function placementText(host: { name: string; why: string; passedOver: string[] } | null): string {
  if (!host) return "";
  const others = host.passedOver.map((r) => `  passed over ${r}\n`).join("");
  return `host: ${host.name} (${host.why})\n${others}`;
}

export function envCommand(io: CliIo) {
  const list = defineCommand({
    meta: { name: "list", description: "List environments" },
    args: { tier: { type: "string", description: `only this tier (${TIERS.join(", ")})` } },
    async run({ args }) {
      checkTier(args.tier);
      const tier = args.tier ? (args.tier as EnvSummary["tier"]) : undefined;
      const envs = await client(io).get("/environments", { query: { tier } });
      if (io.globals.json) return printJson(io, envs);
      // A move shows beside the host it leaves: "h1 (moving to h2 (job …))".
      const rows = envs.map((e) => ({ ...e, host: e.move ? `${e.host ?? "-"} (${e.move})` : e.host }));
      printTable(io, rows, [
        { key: "name", label: "name" },
        { key: "tier", label: "tier" },
        { key: "status", label: "status" },
        { key: "host", label: "host" },
        { key: "branch", label: "branch" },
        { key: "url", label: "url" },
      ]);
    },
  });

  const create = defineCommand({
    meta: { name: "create", description: "Create an environment: database, filestore, Odoo container, nginx vhost" },
    args: {
      name: nameArg,
      tier: { type: "string", required: true, description: TIERS.join("|") },
      branch: { type: "string", description: "git branch this env follows (unique per project)" },
      "odoo-image": { type: "string", description: "Odoo image (default from config, odoo:17.0)" },
      domain: { type: "string", description: "serve on this domain instead of <name>.<tier>.<base domain>" },
      modules: { type: "string", description: "comma-separated modules to install (default from config)" },
      demo: { type: "boolean", description: "load demo data (default: dev tiers only)" },
      project: { type: "string", description: "project (default: default)" },
      workers: {
        type: "string",
        description: "Odoo workers instead of the tier's (at most the policy's resource quota)",
      },
      cpus: { type: "string", description: "CPU limit instead of the tier's (at most the quota)" },
      "memory-mb": { type: "string", description: "memory limit in MiB instead of the tier's (at most the quota)" },
      host: { type: "string", description: "fleet: create it on this host (host list)" },
      label: { type: "string", description: "fleet: key=value, repeatable: only on a host with these labels" },
      wait: waitArg,
      "dry-run": { type: "boolean", description: "print what would be created and change nothing" },
    },
    async run({ args, rawArgs }) {
      checkTier(args.tier);
      const labels = repeatedFlag(rawArgs, "label");
      const body = {
        name: args.name,
        // checkTier above: the server's enum, or an error before any request.
        tier: args.tier as EnvSummary["tier"],
        ...(args.branch !== undefined ? { branch: args.branch } : {}),
        ...(args["odoo-image"] !== undefined ? { odooImage: args["odoo-image"] } : {}),
        ...(args.domain !== undefined ? { domain: args.domain } : {}),
        ...(args.modules !== undefined
          ? {
              modules: args.modules
                .split(",")
                .map((m) => m.trim())
                .filter(Boolean),
            }
          : {}),
        ...(args.demo !== undefined ? { demo: args.demo } : {}),
        ...(args.project !== undefined ? { project: args.project } : {}),
        ...(args.workers !== undefined ? { workers: numberFlag("--workers", args.workers) } : {}),
        ...(args.cpus !== undefined ? { cpus: numberFlag("--cpus", args.cpus) } : {}),
        ...(args["memory-mb"] !== undefined ? { memoryMb: numberFlag("--memory-mb", args["memory-mb"]) } : {}),
        ...(args.host !== undefined ? { host: args.host } : {}),
        ...(labels.length ? { labels: parseLabelArgs(labels) } : {}),
        ...(args["dry-run"] ? { dryRun: true } : {}),
      };
      const out = await client(io).post("/environments", { body });
      if (out.dryRun) {
        if (io.globals.json) return printJson(io, out);
        io.stdout(
          `would create ${JSON.stringify(out.plan, null, 2)}\n${placementText(out.plan?.host ?? null)}steps:\n${out.steps.map((s, i) => `  ${i + 1}. ${s}`).join("\n")}\n`,
        );
        return;
      }
      if (!out.job || !out.env) throw new Invalid("daemon answered without a job");
      note(
        io,
        `creating ${out.env.slug} (${out.env.tier})${out.env.host ? ` on host ${out.env.host}` : ""} → ${out.env.url}`,
      );
      await afterEnqueue(io, out.job, args.wait === true);
    },
  });

  const get = defineCommand({
    meta: { name: "get", description: "One environment: status, URL, database, limits, disk use" },
    args: {
      name: nameArg,
      "show-admin-password": {
        type: "boolean",
        description: "also show the Odoo admin login and password (admins only; audited)",
      },
    },
    async run({ args }) {
      const c = client(io);
      const d = await c.get("/environments/{name}", { params: { name: args.name } });
      const login = args["show-admin-password"]
        ? await c.get("/environments/{name}/admin-password", { params: { name: args.name } })
        : null;
      if (io.globals.json)
        return printJson(io, login ? { ...d, adminLogin: login.login, adminPassword: login.password } : d);
      showDetail(io, d);
      if (login) io.stdout(`${"odoo".padEnd(9)} ${login.login} / ${login.password}\n`);
    },
  });

  const rotateAdminPassword = defineCommand({
    meta: {
      name: "rotate-admin-password",
      description: "Give Odoo's admin user a new random password (admins only); --wait shows it once",
    },
    args: { name: nameArg, wait: waitArg },
    async run({ args }) {
      const job = await client(io).post("/environments/{name}/admin-password", { params: { name: args.name } });
      await afterEnqueue(io, job, args.wait === true);
    },
  });

  const power = (action: "start" | "stop" | "restart", description: string) =>
    defineCommand({
      meta: { name: action, description },
      args: { name: nameArg, wait: waitArg },
      async run({ args }) {
        const job = await client(io).post("/environments/{name}/{action}", { params: { name: args.name, action } });
        await afterEnqueue(io, job, args.wait === true);
      },
    });

  const logs = defineCommand({
    meta: { name: "logs", description: "The Odoo container's log; -f follows it" },
    args: {
      name: nameArg,
      follow: { type: "boolean", alias: "f" },
      tail: { type: "string", default: "200", description: "lines from the end" },
    },
    async run({ args }) {
      const tail = Number(args.tail);
      if (!Number.isInteger(tail) || tail < 0 || tail > 100_000) throw new Invalid("--tail must be 0-100000");
      const query = { tail, follow: flag(args.follow === true) };
      for await (const chunk of client(io).text("/environments/{name}/logs", { params: { name: args.name }, query }))
        io.stdout(chunk);
    },
  });

  const extend = defineCommand({
    meta: { name: "extend", description: "Move the expiry (TTL) to --ttl from now: 12h, 3d, never" },
    args: { name: nameArg, ttl: { type: "string", required: true, description: "12h, 3d, … or never" } },
    async run({ args }) {
      if (!/^(never|[1-9]\d{0,4}[hd])$/.test(args.ttl))
        throw new Invalid(`--ttl ${JSON.stringify(args.ttl)}: use e.g. 12h, 3d or never`);
      const env = await client(io).post("/environments/{name}/extend", {
        params: { name: args.name },
        body: { ttl: args.ttl },
      });
      if (io.globals.json) return printJson(io, env);
      io.stdout(`${env.slug} ${env.expiresAt ? `expires ${env.expiresAt}` : "never expires"}\n`);
    },
  });

  const destroy = defineCommand({
    meta: { name: "destroy", description: "Remove containers, vhost, certificates, filestore, database and role" },
    args: {
      name: nameArg,
      "keep-database": { type: "boolean", description: "keep the database, its role and the filestore" },
      "skip-final-backup": {
        type: "boolean",
        description: "production: drop the database without the final backup taken first (admins)",
      },
      yes: { type: "boolean", alias: "y", description: "do not ask (required without a terminal)" },
      wait: waitArg,
    },
    async run({ args }) {
      const c = client(io);
      const env = await c.get("/environments/{name}", { params: { name: args.name } });
      const keep = args["keep-database"] === true;
      await confirmDestructive(io, {
        yes: args.yes === true,
        what: `destroy ${env.tier} environment ${env.slug}${keep ? " (keeping its database)" : ` and delete its database and filestore${env.tier === "production" ? (args["skip-final-backup"] === true ? " WITHOUT a final backup" : " (after a final backup)") : ""}`}`,
        typeToConfirm: env.tier === "production" ? env.slug : undefined,
        flagHint: "--yes",
      });
      // The server refuses production without its name again; it is sent only after the confirmation above.
      const query = {
        keepDatabase: flag(keep),
        confirm: env.slug,
        skipFinalBackup: flag(args["skip-final-backup"] === true),
      };
      const job = await c.delete("/environments/{name}", { params: { name: env.slug }, query });
      await afterEnqueue(io, job, args.wait === true);
    },
  });

  return defineCommand({
    meta: {
      name: "env",
      description:
        "Environments: create, list, get, start/stop/restart, logs, extend, move, rotate-admin-password, destroy",
    },
    subCommands: {
      list,
      create,
      get,
      start: power("start", "Start a stopped environment"),
      stop: power("stop", "Stop the Odoo container (the database stays)"),
      restart: power("restart", "Restart the Odoo container"),
      logs,
      extend,
      move: envMoveCommand(io),
      "rotate-admin-password": rotateAdminPassword,
      destroy,
    },
  });
}
