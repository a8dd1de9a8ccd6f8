import { defineCommand } from "citty";
import { AppError, Invalid } from "../../errors";
import { client, type CliIo } from "../io";
import { formatDuration, note, printJson, printTable } from "../output";
import { followJob } from "../progress";
import { JobFailed, reportJob } from "./jobs";
import type { JobView } from "../../jobs/view";
import type { RebuildPlanEntry } from "../../dr/rebuild-plan";

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

/** RPO as people read it: 3h12m, 2d4h. */
export function formatAge(sec: number): string {
  if (sec < 3600) return formatDuration(sec * 1000);
  const h = Math.floor(sec / 3600);
  return h < 48
    ? `${h}h${String(Math.floor((sec % 3600) / 60)).padStart(2, "0")}m`
    : `${Math.floor(h / 24)}d${h % 24}h`;
}

export class RebuildRefused extends AppError {
  override readonly code = "rebuild_refused";
}

/** One line per env: the backup and image a rebuild uses, or why it is refused. */
export function planLines(plan: RebuildPlanEntry[]): string[] {
  return plan.map((p) => {
    const backup = p.backup
      ? `backup ${p.backup.id} (${formatAge(p.backup.ageSeconds)} old, ${p.backup.from})`
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
      description:
        "Disaster recovery: encrypted state backups and their restore, restore rehearsals of env backups (dr test)",
    },
    subCommands: {
      test: defineCommand({
        meta: {
          name: "test",
          description:
            "Restore an env's newest backup into a throwaway copy, verify it, boot and health-check it, remove it; records RTO and RPO (admins)",
        },
        args: {
          env: { type: "string", description: "one environment (default: every production environment)" },
          host: {
            type: "string",
            description: "run it on this host (with --env; default: another host when one can read the backup)",
          },
          wait: { type: "boolean", description: "follow each test until it ends; exit 1 when one failed" },
        },
        async run({ args }) {
          const c = client(io);
          const out = await c.post("/dr/tests", {
            body: {
              ...(args.env === undefined ? {} : { env: args.env }),
              ...(args.host === undefined ? {} : { host: args.host }),
            },
          });
          const on = (s: (typeof out.started)[number]) =>
            `on ${s.host}${s.hostReason === null ? "" : ` (${s.hostReason})`}`;
          for (const s of out.skipped) note(io, `skipped ${s.env}: ${s.reason}`);
          if (out.started.length === 0 && out.skipped.length === 0) note(io, "no production environment to test");
          if (args.wait !== true) {
            if (io.globals.json) return printJson(io, out);
            for (const s of out.started) {
              io.stdout(`${s.job.id}\n`);
              note(
                io,
                `testing ${s.env} with backup ${s.backupId} ${on(s)}: follow with odooops jobs wait ${s.job.id}`,
              );
            }
            return;
          }
          const failed: string[] = [];
          for (const s of out.started) {
            note(io, `testing ${s.env} with backup ${s.backupId} ${on(s)}`);
            try {
              reportJob(io, await followJob(io, c, s.job.id));
            } catch (e) {
              if (!(e instanceof JobFailed)) throw e;
              note(io, e.message);
              failed.push(s.env);
            }
          }
          if (failed.length > 0)
            throw new JobFailed(`DR test failed for ${failed.join(", ")}: odooops dr reports shows the step and why`);
        },
      }),
      reports: defineCommand({
        meta: { name: "reports", description: "DR test results, newest first, with RTO and RPO" },
        args: {
          env: { type: "string", description: "one environment" },
          since: { type: "string", default: "30d", description: "30d, 12h, 2w or a date (UTC)" },
        },
        async run({ args }) {
          const out = await client(io).get("/dr/tests", { query: { env: args.env, since: args.since } });
          if (io.globals.json) return printJson(io, out);
          printTable(
            io,
            out.tests.map((t) => ({
              ...t,
              rto: t.rtoMs === null ? "-" : formatDuration(t.rtoMs),
              rpo: t.rpoSec === null ? "-" : formatAge(t.rpoSec),
              on: `${t.host ?? "-"}${t.hostReason === null ? "" : ` (${t.hostReason})`}`,
              why:
                t.outcome === "failed"
                  ? `${t.failedStep ?? "?"}: ${(t.reason ?? "").split("\n", 1)[0]?.slice(0, 100) ?? ""}`
                  : "",
            })),
            [
              { key: "createdAt", label: "when" },
              { key: "env", label: "env" },
              { key: "outcome", label: "outcome" },
              { key: "rto", label: "RTO" },
              { key: "rpo", label: "RPO" },
              { key: "on", label: "host" },
              { key: "backupId", label: "backup" },
              { key: "why", label: "failed at" },
            ],
          );
        },
      }),
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
