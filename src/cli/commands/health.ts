import { defineCommand } from "citty";
import { Invalid } from "../../errors";
import { client, type CliIo } from "../io";
import { AlreadyReported, note, printJson } from "../output";

const mark = (f: { level: string; text: string }) =>
  f.level === "ok" ? f.text : `${f.text} [${f.level.toUpperCase()}]`;
const gib = (b: number) => `${(b / 1024 ** 3).toFixed(1)} GiB`;

export function healthCommand(io: CliIo) {
  return defineCommand({
    meta: {
      name: "health",
      description: "Is everything serving? Environments through nginx, backups, certificates, deploys, DR tests, disk",
    },
    subCommands: {
      check: defineCommand({
        meta: {
          name: "check",
          description:
            "One line per environment (http, newest backup, certificate, last deploy, last DR test) and the disk; exit 1 when anything is red",
        },
        args: {
          env: { type: "positional", required: false, description: "one environment (or --all)" },
          all: { type: "boolean", description: "every live environment" },
        },
        async run({ args }) {
          if ((args.all === true) === (args.env !== undefined)) throw new Invalid("give an environment or --all");
          const out = await client(io).get("/health/check", { query: { env: args.env } });
          if (io.globals.json) printJson(io, out);
          else {
            const width = Math.max(3, ...out.envs.map((e) => e.env.length));
            for (const e of out.envs) {
              io.stdout(
                `${e.level.toUpperCase().padEnd(4)} ${e.env.padEnd(width)}  http: ${mark(e.http)}  backup: ${mark(e.backup)}  cert: ${mark(e.cert)}  deploy: ${mark(e.deploy)}  dr test: ${mark(e.dr)}\n`,
              );
            }
            for (const d of out.disk)
              io.stdout(
                `${d.level.toUpperCase().padEnd(4)} disk ${d.label} ${d.path}: ${gib(d.freeBytes)} free of ${gib(d.totalBytes)}\n`,
              );
          }
          if (out.level === "red") {
            const red = [
              ...out.envs.filter((e) => e.level === "red").map((e) => e.env),
              ...out.disk.filter((d) => d.level === "red").map((d) => `disk ${d.label}`),
            ];
            // The report is the output (--json stays one document); the summary goes to stderr.
            note(io, `red: ${red.join(", ")}`);
            throw new AlreadyReported(`red: ${red.join(", ")}`);
          }
        },
      }),
    },
  });
}
