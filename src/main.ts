#!/usr/bin/env bun
import { extractGlobals, processIo } from "./cli/io";
import { runCli } from "./cli/main";

const argv = process.argv.slice(2);
const serving = extractGlobals(argv).rest[0] === "serve";
// `serve` resolves only at shutdown.
runCli(argv, (globals) => processIo(globals, { quietOnClosedPipe: !serving })).then((code) => {
  process.exitCode = code;
});
