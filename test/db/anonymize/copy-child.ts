/**
 * One anonymizing copy in a process of its own, for memory measurements the test runner's heap
 * cannot blur: `bun test/db/anonymize/copy-child.ts '<input JSON>'` prints `{ bytes, tables,
 * vmHwmBytes }`, VmHWM being this process's peak RSS.
 */
import { readFileSync } from "node:fs";
import { copyAnonymized, type AnonymizedCopyInput } from "../../../src/db/anonymize/copy";
import { memoryLog } from "../quiet-log";

const input = JSON.parse(process.argv[2] ?? "{}") as Omit<AnonymizedCopyInput, "log">;
const r = await copyAnonymized({ ...input, log: memoryLog() });
const hwmKb = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
process.stdout.write(JSON.stringify({ bytes: r.bytes, tables: r.tables, vmHwmBytes: Number(hwmKb) * 1024 }));
