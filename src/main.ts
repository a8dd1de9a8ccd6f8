#!/usr/bin/env bun
import { processIo } from "./cli/io";
import { runCli } from "./cli/main";

// `serve` resolves only at shutdown.
runCli(process.argv.slice(2), processIo).then((code) => {
  process.exitCode = code;
});
