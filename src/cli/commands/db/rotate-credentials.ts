import { defineCommand } from "citty";
import { Invalid } from "../../../errors";
import { client, type CliIo } from "../../io";
import { note } from "../../output";
import { afterEnqueue } from "../jobs";
import { envArg, waitArg } from "./shared";

export function rotateCredentialsCommand(io: CliIo) {
  return defineCommand({
    meta: {
      name: "rotate-credentials",
      description:
        "A new PostgreSQL password for an env's role (or --all envs'), odoo.conf rewritten, Odoo restarted on it (admins)",
    },
    args: {
      env: { ...envArg, required: false },
      all: { type: "boolean", description: "every active or stopped environment, one job each" },
      wait: waitArg,
    },
    async run({ args }) {
      if ((args.all === true) === (args.env !== undefined)) throw new Invalid("give an environment or --all");
      const c = client(io);
      const names =
        args.env !== undefined
          ? [args.env]
          : (await c.get("/environments"))
              .filter((e) => e.status === "active" || e.status === "stopped")
              .map((e) => e.slug);
      for (const name of names) {
        const job = await c.post("/environments/{name}/db/rotate-credentials", { params: { name } });
        note(
          io,
          `rotating the database credentials of ${job.target ?? name} (Odoo restarts: a few seconds without answers)`,
        );
        await afterEnqueue(io, job, args.wait === true);
      }
      if (names.length === 0) note(io, "no active or stopped environment");
    },
  });
}
