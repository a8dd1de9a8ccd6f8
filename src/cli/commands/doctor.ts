import { defineCommand } from "citty";
import type { CliIo } from "../io";
import { AlreadyReported, printJson } from "../output";

export function doctorCommand(io: CliIo) {
  return defineCommand({
    meta: {
      name: "doctor",
      description:
        "Check this host: config, state, daemon, docker, PostgreSQL, nginx, ports, disk, ACME, S3, certificates",
    },
    async run() {
      const { loadContext, renderReport, runDoctor } = await import("../../doctor");
      const report = await runDoctor(loadContext({ root: io.globals.root, env: io.env }));
      if (io.globals.json) printJson(io, report);
      else io.stdout(renderReport(report.checks));
      if (!report.ok) {
        const failed = report.checks.filter((c) => c.status === "fail").map((c) => c.id);
        throw new AlreadyReported(`doctor: ${failed.length} check(s) failed: ${failed.join(", ")}`);
      }
    },
  });
}
