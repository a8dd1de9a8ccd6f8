import { defineCommand } from "citty";
import type { CliIo } from "../io";

export function serveCommand(io: CliIo) {
  return defineCommand({
    meta: { name: "serve", description: "Run the daemon (standalone: coordinator + agent)" },
    args: {
      listen: { type: "string", description: "API address host:port (config `listen`, default 127.0.0.1:8420)" },
    },
    async run({ args }) {
      const { startServe } = await import("../../daemon/serve");
      const daemon = await startServe({ root: io.globals.root, listen: args.listen, env: io.env });
      await new Promise<void>((resolve) => {
        const onSignal = () => {
          daemon.stop().then(resolve, resolve);
        };
        process.once("SIGTERM", onSignal);
        process.once("SIGINT", onSignal);
      });
    },
  });
}
