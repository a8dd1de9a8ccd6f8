import { defineCommand } from "citty";
import { assertKnownFlags, initArgs } from "../../init/flags";
import type { CliIo } from "../io";
import { note, printJson } from "../output";

export function initCommand(io: CliIo) {
  return defineCommand({
    meta: {
      name: "init",
      description:
        "Set up this host: role, domains, certificates, backups, admin, systemd (asks on a terminal; every question is also a flag)",
    },
    args: initArgs(),
    async run({ args, rawArgs }) {
      assertKnownFlags(rawArgs);
      const { resolvePaths } = await import("../../config/paths");
      const { runInit } = await import("../../init/run");
      const paths = resolvePaths(io.globals.root ?? io.env.ODOOOPS_ROOT);
      // --json is for scripts: clack would draw its prompts into the JSON on stdout.
      const canAsk = io.interactive && !io.globals.json;
      const interactive = canAsk && args.yes !== true;
      const clack = interactive ? await import("@clack/prompts") : null;
      const report = clack
        ? {
            step: (m: string) => clack.log.step(m),
            info: (m: string) => clack.log.info(m),
            warn: (m: string) => clack.log.warn(m),
            confirm: async (m: string) => (await clack.confirm({ message: m, initialValue: true })) === true,
          }
        : {
            step: (m: string) => note(io, m),
            info: (m: string) => note(io, m),
            warn: (m: string) => note(io, `warning: ${m}`),
          };
      if (clack) clack.intro(`odooops init — ${paths.configYaml}`);
      const result = await runInit({
        paths,
        flags: args,
        interactive: canAsk,
        readStdin: io.readStdin,
        report,
        wizard: interactive ? (await import("../../init/wizard")).runWizard : undefined,
        askPostgres: interactive ? (await import("../../init/wizard")).askPostgres : undefined,
      });
      if (io.globals.json) printJson(io, result);
      else if (result.recoveryKey?.privateText) {
        // On stdout, whatever --quiet says: it exists nowhere else.
        io.stdout(
          `\nRECOVERY KEY (shown once, not kept on this host; store it in your password manager):\n${result.recoveryKey.privateText}\n\n`,
        );
      }
      const next = result.verified
        ? "odooops doctor, then odooops env create NAME --tier dev"
        : "start the daemon (odooops serve), then odooops doctor";
      if (clack) clack.outro(`done. Next: ${next}`);
      else note(io, `done. Next: ${next}`);
    },
  });
}
