import { defineCommand } from "citty";
import { AppError, Invalid } from "../../errors";
import { client, type CliIo } from "../io";
import { note, printJson, printTable } from "../output";
import { followJob } from "../progress";
import type { JobView } from "../../jobs/view";
import type { RebuildPlanEntry } from "../../dr/rebuild-plan";
import { JobFailed } from "./jobs";

export class StateBackupFailed extends AppError {
  override readonly code = "state_backup_failed";
}

/** `--from`: "s3", or a directory of state backup files (the local `_state` dir copied anywhere). */
async function storeFor(from: string | undefined, paths: import("../../config/paths").Paths) {
  const { loadConfig } = await import("../../config/load");
  const store = await import("../../dr/store");
  if (from !== undefined && from !== "s3") return store.dirStore(from);
  const config = loadConfig(paths, { env: {} });
  if (from === "s3") {
    if (!config.backups.s3)
      throw new Invalid(
        `--from s3: no backups.s3 in ${paths.configYaml}; write the bucket's settings there first (docs/disaster-recovery.md)`,
      );
    return store.s3Store(config.backups.s3);
  }
  const local = config.backups.local;
  return store.dirStore(store.localStateDir(local.dir !== "" ? local.dir : paths.backupsDir));
}

export class RebuildRefused extends AppError {
  override readonly code = "rebuild_refused";
}

/** A backup's age the way an operator reads it at 3 a.m. */
export function ageText(seconds: number): string {
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 2 * 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

/** One line per env: the backup and image a rebuild uses, or why it is refused. */
export function planLines(plan: RebuildPlanEntry[]): string[] {
  return plan.map((p) => {
    const backup = p.backup
      ? `backup ${p.backup.id} (${ageText(p.backup.ageSeconds)} old, ${p.backup.from})`
      : "no backup";
    const image = `image ${p.image.ref} (${p.image.from ?? "nowhere"})`;
    return `${p.env} [${p.tier}]: ${p.refused ? `REFUSED: ${p.refused}` : `${backup}, ${image}`}`;
  });
}

function rebuild(io: CliIo) {
  return defineCommand({
    meta: {
      name: "rebuild",
      description:
        "After restore-state: recreate envs from state (database and filestore from the newest verified backup, image, container, vhost, certificate), production first",
    },
    args: {
      env: { type: "string", description: "one environment" },
      all: { type: "boolean", description: "every environment that is not destroyed" },
      "dry-run": {
        type: "boolean",
        description: "print the plan (backup and its age, image and its source), change nothing",
      },
      wait: { type: "boolean", description: "follow the jobs until they end" },
    },
    async run({ args }) {
      const body = {
        ...(args.env !== undefined ? { env: args.env } : {}),
        ...(args.all === true ? { all: true } : {}),
        dryRun: args["dry-run"] === true,
      };
      if ((body.env === undefined) === (body.all !== true))
        throw new Invalid("say which environments: --env NAME, or --all for every one that is not destroyed");
      const out = await client(io).post("/dr/rebuild", { body });
      if (!io.globals.json || args.wait !== true) {
        if (io.globals.json) printJson(io, out);
        else for (const l of planLines(out.plan)) note(io, l);
      }
      const jobs: JobView[] = [];
      if (args.wait === true)
        for (const j of out.jobs) {
          note(io, `${j.env}:`);
          jobs.push(await followJob(io, client(io), j.job.id));
        }
      else if (!io.globals.json)
        for (const j of out.jobs) note(io, `${j.env}: job ${j.job.id} (odooops jobs wait ${j.job.id})`);
      if (args.wait === true) {
        if (io.globals.json) printJson(io, { ...out, jobs: jobs.map((job) => ({ env: job.target, job })) });
        else
          for (const j of jobs)
            if (j.status === "succeeded")
              note(io, `${j.target ?? ""}: ${j.result?.alreadyRunning === true ? "already running" : "rebuilt"}`);
      }
      const refused = out.plan.filter((p) => p.refused !== null);
      const failed = jobs.filter((j) => j.status !== "succeeded");
      if (failed.length > 0)
        throw new JobFailed(
          failed
            .map(
              (j) =>
                `job ${j.id} (${j.target ?? "-"}) ${j.status}${j.error ? `: ${j.error}` : ""}\n  logs: odooops jobs logs ${j.id}`,
            )
            .join("\n"),
        );
      if (refused.length > 0 && !out.dryRun)
        throw new RebuildRefused(`not rebuilt: ${refused.map((p) => `${p.env} (${p.refused})`).join("; ")}`);
    },
  });
}

export function drCommand(io: CliIo) {
  return defineCommand({
    meta: {
      name: "dr",
      description: "Disaster recovery of the control plane: encrypted state backups and their restore (admins)",
    },
    subCommands: {
      rebuild: rebuild(io),
      backups: defineCommand({
        meta: { name: "backups", description: "State backups in the local backup dir and S3, newest first" },
        async run() {
          const out = await client(io).get("/dr/state-backups");
          if (io.globals.json) return printJson(io, out);
          if (out.recoveryKey === null)
            note(io, "warning: no recovery key on this host: no state backup can be made (odooops dr recovery-key)");
          for (const e of out.errors) note(io, `warning: cannot list ${e.where}: ${e.error}`);
          printTable(
            io,
            out.backups.map((b) => ({ ...b, stored: b.stored.join(",") })),
            [
              { key: "id", label: "id" },
              { key: "createdAt", label: "created" },
              { key: "size", label: "bytes" },
              { key: "stored", label: "stored" },
            ],
          );
        },
      }),
      backup: defineCommand({
        meta: {
          name: "backup",
          description: "Back up the state now (also hourly by default: dr.stateBackups.schedule)",
        },
        async run() {
          const out = await client(io).post("/dr/state-backups");
          if (io.globals.json) printJson(io, out);
          else
            note(
              io,
              `state backup ${out.id} (${out.size} bytes, recovery key ${out.recipient}) stored in ${out.stored.map((s) => s.where).join(", ") || "nothing"}`,
            );
          for (const d of out.deleted) note(io, `retention removed ${d.ids.length} old backup(s) from ${d.kind}`);
          if (out.failed.length > 0)
            throw new StateBackupFailed(
              `state backup ${out.id} not stored in ${out.failed.map((f) => `${f.where} (${f.error})`).join(", ")}`,
              out,
            );
        },
      }),
      "recovery-key": defineCommand({
        meta: {
          name: "recovery-key",
          description:
            "Create this host's recovery key if it has none (printed once: keep it off the host); else show its fingerprint",
        },
        async run() {
          const { resolvePaths } = await import("../../config/paths");
          const { ensureRecoveryKey } = await import("../../dr/recovery-key");
          const paths = resolvePaths(io.globals.root ?? io.env.ODOOOPS_ROOT);
          const r = ensureRecoveryKey(paths.recoveryPublicKeyFile);
          if (io.globals.json) return printJson(io, r);
          if (!r.created)
            return note(io, `recovery key ${r.fingerprint} (${paths.recoveryPublicKeyFile} holds its public half)`);
          io.stdout(`${r.privateText}\n`);
          note(
            io,
            `recovery key ${r.fingerprint} created. The line above is shown ONCE and is not stored on this host: put it in your password manager. Without it no state backup can be read.`,
          );
        },
      }),
      "restore-state": defineCommand({
        meta: {
          name: "restore-state",
          description:
            "Bring the control plane (state, config, keys) back from a state backup; run with the daemon stopped",
        },
        args: {
          "recovery-key-file": {
            type: "string",
            required: true,
            description: "file holding the recovery key (ODOOOPS-RECOVERY-KEY-1-…)",
          },
          from: {
            type: "string",
            description:
              "s3 (backups.s3 of the config here), or a directory of state backup files; default: the local backup dir",
          },
          backup: { type: "string", description: "a state backup id (default: the newest)" },
          "dry-run": { type: "boolean", description: "verify the backup and print what would change, change nothing" },
        },
        async run({ args }) {
          const { resolvePaths } = await import("../../config/paths");
          const { readRecoveryPrivateKey } = await import("../../dr/recovery-key");
          const { restoreState } = await import("../../dr/restore-state");
          const paths = resolvePaths(io.globals.root ?? io.env.ODOOOPS_ROOT);
          const key = readRecoveryPrivateKey(args["recovery-key-file"]);
          const store = await storeFor(args.from, paths);
          try {
            const out = await restoreState({
              paths,
              key,
              store,
              backupId: args.backup,
              dryRun: args["dry-run"] === true,
            });
            if (io.globals.json) return printJson(io, out);
            note(
              io,
              `${out.restored ? "restored" : "verified (dry run, nothing changed)"}: state backup ${out.backup.id} of ${out.backup.host}, ${out.backup.createdAt}, from ${out.backup.from}`,
            );
            for (const f of out.files)
              note(io, `  ${f.action} ${f.path}${f.keptAs ? ` (old file kept as ${f.keptAs})` : ""}`);
            note(
              io,
              `  ${out.counts.environments ?? 0} environment row(s), ${out.counts.jobs ?? 0} job(s), ${out.counts.audit_logs ?? 0} audit row(s)`,
            );
            if (out.restored)
              note(
                io,
                "next: start the daemon (systemctl start odooops), then odooops env list and odooops audit verify",
              );
          } finally {
            store.close();
          }
        },
      }),
    },
  });
}
