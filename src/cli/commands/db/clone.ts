import { defineCommand } from "citty";
import { Invalid } from "../../../errors";
import type { ResponseOf } from "../../api";
import { client, type CliIo } from "../../io";
import { note, printJson, printTable } from "../../output";
import {
  anonymizeArg,
  confirmedOperation,
  describePlan,
  envArg,
  forceProductionArg,
  keepOldArg,
  readRulesFile,
  type SendOperation,
  waitArg,
  yesArg,
} from "./shared";

type AnonymizationPreview = NonNullable<ResponseOf<"post", "/environments/{name}/db/clone">["plan"]["anonymization"]>;

const METHODS = ["auto", "template", "stream"] as const;
const isMethod = (m: string): m is (typeof METHODS)[number] => (METHODS as readonly string[]).includes(m);

/** Per table: rows in the source, and each rule's column with the rows it would change. */
function printPreview(io: CliIo, a: AnonymizationPreview): void {
  note(io, `  anonymization rules, lowest first: ${a.sources.join(" < ")}`);
  printTable(
    io,
    a.tables.flatMap((t) =>
      t.columns.map((c, i) => ({
        table: i === 0 ? t.table : "",
        rows: i === 0 ? String(t.rows) : "",
        column: c.column,
        rule: c.rule,
        changed: String(c.rows),
      })),
    ),
    [
      { key: "table", label: "table" },
      { key: "rows", label: "rows" },
      { key: "column", label: "column" },
      { key: "rule", label: "rule" },
      { key: "changed", label: "rows changed" },
    ],
  );
  if (a.skipped.length > 0) note(io, `  not in the source (skipped): ${a.skipped.join(", ")}`);
}

export function cloneCommand(io: CliIo) {
  return defineCommand({
    meta: {
      name: "clone",
      description: "Replace an environment's database and filestore with a copy of another environment's",
    },
    args: {
      source: { ...envArg, description: "environment to copy from" },
      to: { type: "string", required: true, description: "environment to overwrite (must exist)" },
      anonymize: anonymizeArg,
      method: {
        type: "string",
        default: "auto",
        description: "auto (template copy when the source is idle, else a streamed dump), template or stream",
      },
      "keep-old": keepOldArg,
      "force-production": {
        ...forceProductionArg,
        description: "allow cloning into a production environment (with --yes)",
      },
      rules: {
        type: "string",
        description:
          "an anonymization rules file for this run only, merged over the host's and the project's (checked by the daemon first)",
      },
      "dry-run": {
        type: "boolean",
        description:
          "show the plan and, per table, how many rows and which columns each anonymization rule would change; change nothing",
      },
      yes: yesArg,
      wait: waitArg,
    },
    async run({ args }) {
      const method = args.method;
      if (!isMethod(method))
        throw new Invalid(`--method must be auto, template or stream, not ${JSON.stringify(args.method)}`);
      const body = {
        from: args.source,
        method,
        keepOld: args["keep-old"] === true,
        ...(args.anonymize !== undefined ? { anonymize: args.anonymize } : {}),
        forceProduction: args["force-production"] === true,
        ...(args.rules !== undefined ? { rules: { text: readRulesFile(args.rules), file: args.rules } } : {}),
      };
      if (args["dry-run"] === true) {
        const out = await client(io).post("/environments/{name}/db/clone", {
          params: { name: args.to },
          body: { ...body, dryRun: true, preview: true },
        });
        if (io.globals.json) return printJson(io, out.plan);
        for (const line of describePlan(out.plan)) note(io, line);
        if (out.plan.anonymization) printPreview(io, out.plan.anonymization);
        return note(io, "dry run: nothing was changed");
      }
      const c = client(io);
      const send: SendOperation = (extra) =>
        c.post("/environments/{name}/db/clone", { params: { name: args.to }, body: { ...body, ...extra } });
      await confirmedOperation(io, send, {
        yes: args.yes === true,
        forceProduction: args["force-production"] === true,
        wait: args.wait === true,
      });
    },
  });
}
