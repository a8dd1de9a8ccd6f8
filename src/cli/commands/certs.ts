import { readFileSync } from "node:fs";
import { defineCommand } from "citty";
import type { CertificateView, RenewItem, RenewOutcome } from "../../certs/schema";
import { Invalid, errnoText } from "../../errors";
import type { JobView } from "../../jobs/view";
import { client, type CliIo } from "../io";
import { note, printJson, printTable } from "../output";
import { followJob } from "../progress";
import { afterEnqueue, JobFailed } from "./jobs";

const waitArg = { type: "boolean", description: "follow the job(s) and render the steps until they end" } as const;

function readPem(flag: string, path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Invalid(`cannot read ${flag} ${path}: ${errnoText(e)}`);
  }
  if (!text.includes("-----BEGIN "))
    throw new Invalid(`${flag} ${path} is not a PEM file (expected -----BEGIN …-----)`);
  return text;
}

function remark(c: CertificateView): string {
  if (c.pendingJob) return `job ${c.pendingJob} pending`;
  return c.status === "valid" ? "" : c.detail;
}

function list(io: CliIo) {
  return defineCommand({
    meta: { name: "list", description: "Certificates of env domains: source, serial, expiry, days left, status" },
    async run() {
      const certs = await client(io).get("/certificates");
      if (io.globals.json) return printJson(io, certs);
      printTable(
        io,
        certs.map((c) => ({
          domain: c.domain,
          env: c.env,
          source: c.source,
          serial: c.serial,
          expires: c.notAfter ? c.notAfter.slice(0, 10) : null,
          days: c.daysLeft,
          status: c.status,
          note: remark(c),
        })),
        [
          { key: "domain", label: "domain" },
          { key: "env", label: "env" },
          { key: "source", label: "source" },
          { key: "serial", label: "serial" },
          { key: "expires", label: "expires" },
          { key: "days", label: "days left" },
          { key: "status", label: "status" },
          { key: "note", label: "note" },
        ],
      );
    },
  });
}

function describeOutcome(io: CliIo, out: RenewOutcome): void {
  const line = (i: RenewItem) => `${i.domain} (${i.env})`;
  for (const i of out.queued) note(io, `renewing ${line(i)}: ${i.reason}`);
  for (const i of out.pending) note(io, `${line(i)}: ${i.reason} (job ${i.job?.id ?? "?"}); not queued again`);
  for (const i of out.skipped) note(io, `${i.attention ? "warning: " : ""}${line(i)}: ${i.reason}`);
  if (out.queued.length + out.pending.length === 0 && out.skipped.length === 0)
    note(io, "no environment has or needs a certificate");
}

/** Follows every job in turn; fails (after all of them) when one did not succeed. */
async function waitAll(io: CliIo, out: RenewOutcome): Promise<void> {
  const finished = new Map<string, JobView>();
  for (const i of [...out.queued, ...out.pending]) {
    if (!i.job || finished.has(i.job.id)) continue;
    note(io, `${i.domain}:`);
    finished.set(i.job.id, await followJob(io, client(io), i.job.id));
  }
  const withFinal = (items: RenewItem[]) =>
    items.map((i) => ({ ...i, job: i.job ? (finished.get(i.job.id) ?? i.job) : null }));
  if (io.globals.json)
    printJson(io, { queued: withFinal(out.queued), pending: withFinal(out.pending), skipped: out.skipped });
  const bad = [...finished.values()].filter((j) => j.status !== "succeeded");
  for (const j of finished.values())
    if (j.status === "succeeded")
      note(
        io,
        `${j.target ?? ""}: HTTPS with serial ${String(j.result?.serial ?? "?")} until ${String(j.result?.notAfter ?? "?")}`,
      );
  if (bad.length > 0) {
    throw new JobFailed(
      bad
        .map(
          (j) =>
            `job ${j.id} (${j.target ?? "-"}) ${j.status}${j.error ? `: ${j.error}` : ""}\n  logs: odooops jobs logs ${j.id}`,
        )
        .join("\n"),
    );
  }
}

function renew(io: CliIo) {
  return defineCommand({
    meta: {
      name: "renew",
      description: "Renew due or missing certificates, of one env or all (never twice while a job is pending)",
    },
    args: {
      env: {
        type: "positional",
        required: false,
        description: "environment name or domain (default: every env with or needing a certificate)",
      },
      force: {
        type: "boolean",
        description: "renew valid certificates too; with an env named, also replace its imported certificate",
      },
      wait: waitArg,
    },
    async run({ args }) {
      const body = { ...(args.env ? { env: args.env } : {}), force: args.force === true };
      const out = await client(io).post("/certificates/renew", { body });
      if (args.wait === true) {
        describeOutcome(io, out);
        return waitAll(io, out);
      }
      if (io.globals.json) return printJson(io, out);
      describeOutcome(io, out);
      const ids = [...out.queued, ...out.pending].flatMap((i) => (i.job ? [i.job.id] : []));
      for (const id of ids) io.stdout(`${id}\n`);
      if (ids.length === 1) note(io, `follow with: odooops jobs wait ${ids[0]}`);
      else if (ids.length > 1) note(io, "follow with: odooops jobs wait <id>, or rerun with --wait");
    },
  });
}

function importCmd(io: CliIo) {
  return defineCommand({
    meta: {
      name: "import",
      description: "Serve your own certificate for an env (wildcard, EV …); it is never replaced by renewals",
    },
    args: {
      env: { type: "positional", required: true, description: "environment name" },
      cert: {
        type: "string",
        required: true,
        description: "PEM file: the server certificate, optionally followed by its intermediates",
      },
      key: { type: "string", required: true, description: "PEM file: its private key (unencrypted)" },
      chain: { type: "string", description: "PEM file: intermediates, when not in --cert" },
      wait: waitArg,
    },
    async run({ args }) {
      const body = {
        env: args.env,
        certPem: readPem("--cert", args.cert),
        keyPem: readPem("--key", args.key),
        ...(args.chain ? { chainPem: readPem("--chain", args.chain) } : {}),
      };
      const job = await client(io).post("/certificates/import", { body });
      note(io, `importing a certificate for ${job.target ?? args.env}`);
      await afterEnqueue(io, job, args.wait === true);
    },
  });
}

export function certsCommand(io: CliIo) {
  return defineCommand({
    meta: { name: "certs", description: "TLS certificates of env domains: list, renew, import" },
    subCommands: { list: list(io), renew: renew(io), import: importCmd(io) },
  });
}
