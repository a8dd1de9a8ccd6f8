/** `odooops db …`: one file per subcommand, their shared flags and flows in ./shared.ts. */
import { defineCommand } from "citty";
import type { CliIo } from "../../io";
import { anonymizeRulesCommand } from "./anonymize-rules";
import { backupCommand } from "./backup";
import { backupsCommand } from "./backups";
import { cloneCommand } from "./clone";
import { exportCommand } from "./export";
import { exportsCommand } from "./exports";
import { importCommand } from "./import";
import { migrateCommand } from "./migrate";
import { restoreCommand } from "./restore";
import { rotateCredentialsCommand } from "./rotate-credentials";

export function dbCommand(io: CliIo) {
  return defineCommand({
    meta: { name: "db", description: "Database operations: backups, restore, clone, migrate, export, import" },
    subCommands: {
      backup: backupCommand(io),
      backups: backupsCommand(io),
      restore: restoreCommand(io),
      "rotate-credentials": rotateCredentialsCommand(io),
      clone: cloneCommand(io),
      migrate: migrateCommand(io),
      export: exportCommand(io),
      exports: exportsCommand(io),
      import: importCommand(io),
      "anonymize-rules": anonymizeRulesCommand(io),
    },
  });
}
