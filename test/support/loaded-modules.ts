/**
 * Preloaded (`bun --preload`) into a process under test: at exit it writes the paths of every
 * module the process loaded to $ODOOOPS_LOADED_MODULES_FILE (Bun lists ESM modules in require.cache).
 */
import { writeFileSync } from "node:fs";

const out = process.env.ODOOOPS_LOADED_MODULES_FILE;
if (out) process.on("exit", () => writeFileSync(out, JSON.stringify(Object.keys(require.cache))));
