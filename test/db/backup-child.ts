/**
 * One backup in a process of its own, for memory measurements that the test runner's own heap
 * (every test file shares it) cannot blur: `bun test/db/backup-child.ts '<BackupInput JSON>'`
 * prints `{ status, error, dbBytes, vmHwmBytes }`, VmHWM being this process's peak RSS.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { runBackup, type BackupInput } from "../../src/db/backup";
import { memoryLog } from "./quiet-log";

const input = JSON.parse(process.argv[2] ?? "{}") as Omit<BackupInput, "log" | "manifestKey">;
// Nothing restores these backups: any key signs them.
const result = await runBackup({ ...input, log: memoryLog(), manifestKey: randomBytes(32) });
const hwmKb = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
process.stdout.write(
  JSON.stringify({
    status: result.status,
    error: result.error,
    dbBytes: result.manifest?.parts.db.size ?? 0,
    vmHwmBytes: Number(hwmKb) * 1024,
  }),
);
