#!/usr/bin/env bun
import { processIo } from "./cli/io";
import { runCli } from "./cli/main";

// --bytecode builds have no top-level await. `serve` resolves only at shutdown.
runCli(process.argv.slice(2), processIo).then((code) => {
  process.exitCode = code;
});
