import { defineCommand } from "citty";
import { client, type CliIo } from "../../io";
import { note, printJson, printTable } from "../../output";
import { followJob } from "../../progress";
import { afterEnqueue, reportJob } from "../jobs";
import { envArg, waitArg } from "./shared";

/** What the migrate job's dry run stores as its result (job results are not typed by the route). */
interface MigrationResult {
  image: string;
  update: { name: string; from: string | null; to: string | null; reason: string }[];
  modules: string[];
}

function printMigration(io: CliIo, env: string, m: MigrationResult): void {
  if (m.update.length === 0) {
    note(io, `${env}: nothing to update, every installed module matches ${m.image}`);
    return;
  }
  note(io, `${env}: ${m.update.length} module(s) to update from ${m.image}`);
  printTable(
    io,
    m.update.map((u) => ({ module: u.name, from: u.from ?? "-", to: u.to ?? "-", why: u.reason })),
    [
      { key: "module", label: "module" },
      { key: "from", label: "from" },
      { key: "to", label: "to" },
      { key: "why", label: "why" },
    ],
  );
}

export function migrateCommand(io: CliIo) {
  return defineCommand({
    meta: {
      name: "migrate",
      description:
        "List the modules whose installed version differs from the serving image's, then update them (-u) and restart",
    },
    args: {
      env: envArg,
      "dry-run": { type: "boolean", description: "only list what would be updated" },
      wait: waitArg,
    },
    async run({ args }) {
      const c = client(io);
      const path = "/environments/{name}/db/migrate";
      const params = { name: args.env };
      // The plan needs the env's image and database, which only the daemon's side reaches: a dry-run job.
      const planned = await followJob(io, c, (await c.post(path, { params, body: { dryRun: true } })).id);
      if (planned.status !== "succeeded") return reportJob(io, planned);
      const plan = planned.result as unknown as MigrationResult;
      const dryRun = args["dry-run"] === true;
      if (dryRun || plan.modules.length === 0) {
        if (io.globals.json) return printJson(io, plan);
        return printMigration(io, args.env, plan);
      }
      if (!io.globals.json) printMigration(io, args.env, plan);
      const job = await c.post(path, { params, body: { dryRun: false } });
      note(io, `migration of ${job.target ?? args.env} queued`);
      await afterEnqueue(io, job, args.wait === true);
    },
  });
}
