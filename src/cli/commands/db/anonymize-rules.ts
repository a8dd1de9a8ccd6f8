import { existsSync } from "node:fs";
import { defineCommand } from "citty";
import { stringify } from "yaml";
import { Invalid } from "../../../errors";
import { client, type CliIo } from "../../io";
import { AlreadyReported } from "../../output";
import { note, printJson, printTable } from "../../output";
import { RULES_FILE, readRulesFile } from "./shared";

/** --detect ENV: the columns of ENV's database that look personal and that no rule covers. */
async function detect(io: CliIo, env: string): Promise<void> {
  const r = await client(io).get("/environments/{name}/db/anonymize-detect", { params: { name: env } });
  if (io.globals.json) return printJson(io, r);
  note(
    io,
    `${env}: ${r.findings.length} column(s) look personal and no rule covers them (${r.columnsScanned} uncovered text columns of ${r.tablesScanned} tables, first ${r.sampleRows} rows of each sampled)`,
  );
  note(io, `rules, lowest first: ${r.sources.join(" < ")}`);
  if (r.findings.length === 0) return;
  printTable(
    io,
    r.findings.map((f) => ({ column: `${f.table}.${f.column}`, type: f.type, why: f.reasons.join("; ") })),
    [
      { key: "column", label: "column" },
      { key: "type", label: "type" },
      { key: "why", label: "why" },
    ],
  );
  note(
    io,
    `add a rule for each (or list it under piiCheck.exclude knowingly) in ${RULES_FILE} or the host's anonymize.rulesFile`,
  );
}

export function anonymizeRulesCommand(io: CliIo) {
  return defineCommand({
    meta: {
      name: "anonymize-rules",
      description: `Check a project's anonymization rules (default ${RULES_FILE} here) and print the rules a copy would get; exit 1 with every problem. --detect ENV: list ENV's columns that look personal and no rule covers`,
    },
    args: {
      file: {
        type: "string",
        description: `the file to check (default ${RULES_FILE}; when that is absent, the shipped defaults are shown)`,
      },
      detect: {
        type: "string",
        description:
          "an environment: list the columns of its database that look personal (by name or by a sample of rows) and that no rule covers",
      },
    },
    async run({ args }) {
      if (args.detect !== undefined) {
        if (args.file !== undefined)
          throw new Invalid(
            "--detect checks the rules a copy of the environment gets (host file and project file); it takes no --file",
          );
        return detect(io, args.detect);
      }
      const file = args.file ?? RULES_FILE;
      const absent = args.file === undefined && !existsSync(file);
      const v = await client(io).post("/anonymize-rules/validate", {
        body: { text: absent ? "" : readRulesFile(file), file },
      });
      if (io.globals.json) printJson(io, v);
      else if (v.ok) {
        note(
          io,
          absent
            ? `no ${file} here: the shipped defaults (templates/anonymize-default.yaml)`
            : `${file}: valid; the rules a copy gets (the shipped defaults with ${file} over them):`,
        );
        io.stdout(stringify(v.rules));
      } else io.stderr(`${v.problems.join("\n")}\n`);
      if (!v.ok) throw new AlreadyReported(`${file}: ${v.problems.length} problem(s)`);
    },
  });
}
