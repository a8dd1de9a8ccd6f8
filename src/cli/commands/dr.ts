import { defineCommand } from "citty";
import { AppError, Invalid } from "../../errors";
import { client, type CliIo } from "../io";
import { note, printJson, printTable } from "../output";

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

export function drCommand(io: CliIo) {
  return defineCommand({
    meta: {
      name: "dr",
      description: "Disaster recovery of the control plane: encrypted state backups and their restore (admins)",
    },
    subCommands: {
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
