import { defineCommand } from "citty";
import { client, type CliIo } from "../io";
import { printJson } from "../output";

const pct = (v: number | null) => (v === null ? "—" : `${v.toFixed(v === 100 ? 0 : 3)} %`);
const verdict = (met: boolean | null) => (met === null ? "" : met ? " ok" : " MISSED");

export function reportCommand(io: CliIo) {
  return defineCommand({
    meta: {
      name: "report",
      description:
        "Service levels over a window: availability per env (minute probes through nginx) against 99.5 %, deployment success rate against 98 %, p95 deploy time, backups",
    },
    args: {
      since: { type: "string", default: "30d", description: "window start: 30d, 12h, 2w or a date (UTC)" },
    },
    async run({ args }) {
      const r = await client(io).get("/report", { query: { since: args.since } });
      if (io.globals.json) return printJson(io, r);
      io.stdout(
        `Service report ${r.since.slice(0, 16)}Z → ${r.until.slice(0, 16)}Z (goals: availability ≥ ${r.goals.availability} %, deployments ≥ ${r.goals.deploySuccess} %)\n\n`,
      );
      if (r.envs.length === 0) io.stdout("no environment was probed, deployed or backed up in this window\n");
      const width = Math.max(3, ...r.envs.map((e) => e.env.length));
      for (const e of r.envs) {
        io.stdout(
          `${e.env.padEnd(width)}  ${e.tier.padEnd(13)} ${`${pct(e.availability)}${verdict(e.met)}`.padEnd(18)} ${String(e.probes).padStart(6)} probes ${String(e.failures).padStart(5)} failed  deploys ${e.deploys.succeeded}/${e.deploys.failed}  backups ${e.backups.completed}/${e.backups.failed}${e.lastFailure ? `  last failure ${e.lastFailure.slice(0, 100)}` : ""}\n`,
        );
      }
      const d = r.deployments;
      io.stdout(
        `\nproduction: ${pct(r.production.availability)}${verdict(r.production.met)} over ${r.production.probes} probes\n` +
          `deployments: ${d.succeeded} succeeded, ${d.failed} failed: ${pct(d.successRate)}${verdict(d.met)}; p95 ${d.p95Seconds === null ? "—" : `${Math.round(d.p95Seconds)} s`}\n` +
          `backups: ${r.backups.completed} completed, ${r.backups.failed} failed: ${pct(r.backups.successRate)}\n`,
      );
    },
  });
}
