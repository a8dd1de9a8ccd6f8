/**
 * `odooops host …`: the fleet as seen from the coordinator (src/api/routes/hosts.ts). `host add`
 * (enrollment over SSH) lives in ./host-add.ts and is wired in below when present.
 */
import { defineCommand } from "citty";
import { Invalid, Unavailable } from "../../errors";
import { parseLabelArgs } from "../../fleet/labels";
import { confirmDestructive } from "../confirm";
import type { ResponseOf } from "../api";
import { client, type CliIo } from "../io";
import { hostAddCommand } from "./host-add";

type HostView = ResponseOf<"get", "/hosts/{name}">;
import { note, printJson, printTable } from "../output";

/** Every value of a repeatable flag (`--label a=1 --label b=2`); citty keeps only the last one. */
export function repeatedFlag(rawArgs: string[], flag: string): string[] {
  const out: string[] = [];
  rawArgs.forEach((a, i) => {
    const next = rawArgs[i + 1];
    if (a === `--${flag}` && next !== undefined) out.push(next);
    else if (a.startsWith(`--${flag}=`)) out.push(a.slice(flag.length + 3));
  });
  return out;
}

function formatLabels(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

function statusText(h: HostView): string {
  const s = h.status === "online" ? "online" : `offline since ${h.offlineSince ?? "never seen"}`;
  return h.draining ? `${s}, draining` : s;
}

function describe(io: CliIo, h: HostView): void {
  const inv = h.inventory;
  const lines = [
    `host ${h.name} (${h.role})`,
    `status      ${statusText(h)}`,
    `heartbeat   ${h.lastHeartbeatAt ?? "never"}`,
    `agent       ${h.agentVersion ?? "unknown"}`,
    `labels      ${formatLabels(h.labels) || "none"}`,
    inv
      ? `inventory   ${inv.cores} cores, ${inv.memoryMb} MB memory, ${inv.diskFreeMb} MB disk free, load ${inv.load}`
      : "inventory   not reported yet",
    inv ? `versions    docker ${inv.docker ?? "-"}, PostgreSQL ${inv.postgres ?? "-"}, nginx ${inv.nginx ?? "-"}` : "",
    `envs        ${h.envs.join(", ") || "none"}`,
    `containers  ${h.containers.map((c) => `${c.name} (${c.state})`).join(", ") || "none"}`,
    h.role === "agent"
      ? `credential  ${h.credentialRotationPending ? "rotation pending" : `rotated ${h.credentialRotatedAt ?? "never"}`}`
      : "",
  ];
  io.stdout(`${lines.filter(Boolean).join("\n")}\n`);
}

export function hostCommand(io: CliIo) {
  const nameArg = { type: "positional", required: true, description: "host name" } as const;

  const tokenCreate = defineCommand({
    meta: { name: "create", description: "A one-time join token for a new agent (admins)" },
    args: {
      ttl: { type: "string", default: "15m", description: "how long it is valid: 90s, 15m, 2h (at most 24h)" },
      name: { type: "string", description: "the name the new host gets (default: its host name)" },
      label: { type: "string", description: "key=value, repeatable: labels the host gets" },
    },
    async run({ args, rawArgs }) {
      const labels = parseLabelArgs(repeatedFlag(rawArgs, "label"));
      const created = await client(io).post("/hosts/tokens", {
        body: { ttl: args.ttl, ...(args.name ? { name: args.name } : {}), labels },
      });
      if (io.globals.json) return printJson(io, created);
      note(io, `join token valid until ${created.expiresAt}, single use; on the new host run:`);
      io.stdout(`odooops init --role agent --join-url ${created.joinUrl} --join-token ${created.token}\n`);
    },
  });

  const list = defineCommand({
    meta: { name: "list", description: "Hosts: status, inventory, envs, last heartbeat" },
    async run() {
      const hosts = await client(io).get("/hosts");
      if (io.globals.json) return printJson(io, hosts);
      printTable(
        io,
        hosts.map((h) => ({
          name: h.name,
          role: h.role,
          status: statusText(h),
          cores: h.inventory?.cores ?? "",
          memory: h.inventory ? `${h.inventory.memoryMb} MB` : "",
          disk: h.inventory ? `${h.inventory.diskFreeMb} MB` : "",
          envs: h.envs.length,
          heartbeat: h.lastHeartbeatAt ?? "never",
          agent: h.agentVersion ?? "",
          labels: formatLabels(h.labels),
        })),
        ["name", "role", "status", "cores", "memory", "disk", "envs", "heartbeat", "agent", "labels"].map((k) => ({
          key: k,
          label: k,
        })),
      );
    },
  });

  const get = defineCommand({
    meta: { name: "get", description: "One host in detail" },
    args: { name: nameArg },
    async run({ args }) {
      const h = await client(io).get("/hosts/{name}", { params: { name: args.name } });
      if (io.globals.json) return printJson(io, h);
      describe(io, h);
    },
  });

  const label = defineCommand({
    meta: { name: "label", description: "Set labels (key=value …) or remove them (--remove key) (admins)" },
    args: {
      name: nameArg,
      set: { type: "string", description: "key=value, repeatable" },
      remove: { type: "string", description: "a key to remove, repeatable" },
    },
    async run({ args, rawArgs }) {
      const h = await client(io).put("/hosts/{name}/labels", {
        params: { name: args.name },
        body: { set: parseLabelArgs(repeatedFlag(rawArgs, "set")), remove: repeatedFlag(rawArgs, "remove") },
      });
      if (io.globals.json) return printJson(io, h);
      note(io, `${h.name}: ${formatLabels(h.labels) || "no labels"}`);
    },
  });

  const drain = defineCommand({
    meta: {
      name: "drain",
      description: "Stop new placements on a host (nothing moves by itself); --undo resumes them (admins)",
    },
    args: { name: nameArg, undo: { type: "boolean", description: "accept placements again" } },
    async run({ args }) {
      const h = await client(io).put("/hosts/{name}/draining", {
        params: { name: args.name },
        body: { draining: args.undo !== true },
      });
      if (io.globals.json) return printJson(io, h);
      note(
        io,
        h.draining ? `${h.name} is draining: no new environments are placed there` : `${h.name} accepts placements`,
      );
    },
  });

  const rotateCredential = defineCommand({
    meta: {
      name: "rotate-credential",
      description:
        "Give an agent a new credential over its own channel; the old one is refused once it switched (admins)",
    },
    args: {
      name: nameArg,
      wait: { type: "boolean", description: "wait until the agent has switched (it does at its next heartbeat)" },
      timeout: { type: "string", description: "seconds --wait waits (default 120)", default: "120" },
    },
    async run({ args }) {
      const timeoutSec = Number(args.timeout);
      if (!Number.isInteger(timeoutSec) || timeoutSec < 1) throw new Invalid("--timeout: a whole number of seconds");
      const api = client(io);
      let h = await api.post("/hosts/{name}/credential/rotate", { params: { name: args.name } });
      const until = Date.now() + timeoutSec * 1000;
      while (args.wait && h.credentialRotationPending) {
        if (Date.now() > until)
          throw new Unavailable(
            `${h.name} has not fetched its new credential in ${timeoutSec} s (status ${statusText(h)}); it will at its next heartbeat`,
          );
        await Bun.sleep(500);
        h = await api.get("/hosts/{name}", { params: { name: args.name } });
      }
      if (io.globals.json) return printJson(io, h);
      note(
        io,
        h.credentialRotationPending
          ? `${h.name} gets a new credential at its next heartbeat; its old one is refused once it switched (see \`odooops host get ${h.name}\`)`
          : `${h.name} switched to a new credential at ${h.credentialRotatedAt}; its old one is refused`,
      );
    },
  });

  const remove = defineCommand({
    meta: { name: "remove", description: "Forget a host and revoke its agent credential (admins)" },
    args: {
      name: nameArg,
      force: {
        type: "boolean",
        description: "even with envs on it: their records are dropped, their data stays on the host unmanaged",
      },
      yes: { type: "boolean", alias: "y", description: "do not ask (required without a terminal)" },
    },
    async run({ args }) {
      await confirmDestructive(io, {
        yes: args.yes === true,
        what: `remove host ${args.name} and revoke its agent credential`,
        flagHint: "--yes",
      });
      const r = await client(io).delete("/hosts/{name}", {
        params: { name: args.name },
        ...(args.force ? { query: { force: "true" as const } } : {}),
      });
      if (io.globals.json) return printJson(io, r);
      note(io, `removed ${r.host}; its agent credential is revoked`);
      if (r.abandonedEnvs.length)
        note(io, `no longer managed (containers, databases and files left on the host): ${r.abandonedEnvs.join(", ")}`);
      if (r.failedJobs) note(io, `${r.failedJobs} queued job(s) for the host failed`);
    },
  });

  return defineCommand({
    meta: { name: "host", description: "The fleet: agents, join tokens, labels, draining" },
    subCommands: {
      token: defineCommand({
        meta: { name: "token", description: "Join tokens" },
        subCommands: { create: tokenCreate },
      }),
      list,
      get,
      label,
      drain,
      "rotate-credential": rotateCredential,
      remove,
      add: hostAddCommand(io),
    },
  });
}
