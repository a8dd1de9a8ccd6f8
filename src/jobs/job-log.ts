/** One log file per job under logs/jobs/; read back by offset so `jobs logs -f` can poll. */
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { Secrets } from "../log";
import { displayText } from "../tenant-text";

export class JobLogs {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
  }

  file(jobId: string): string {
    return join(this.dir, `${jobId}.log`);
  }

  /**
   * Every line of every job, local or from a remote agent, is written here: what a tenant's
   * container printed is made safe for terminals before it is stored, then redacted (in that
   * order, so an escape sequence inside a secret cannot hide it from the redaction).
   */
  append(jobId: string, lines: string[]): string[] {
    const redacted = lines.map((l) => Secrets.redact(displayText(l)));
    appendFileSync(this.file(jobId), redacted.map((l) => `${l}\n`).join(""), { mode: 0o640 });
    return redacted;
  }

  /** Bytes from `offset` (at most `max`), cut at a line end when possible. */
  read(jobId: string, offset: number, max = 256 * 1024): { text: string; nextOffset: number } {
    const file = this.file(jobId);
    if (!existsSync(file)) return { text: "", nextOffset: 0 };
    const size = statSync(file).size;
    if (offset >= size) return { text: "", nextOffset: size };
    const len = Math.min(max, size - offset);
    const buf = Buffer.alloc(len);
    const fd = openSync(file, "r");
    try {
      readSync(fd, buf, 0, len, offset);
    } finally {
      closeSync(fd);
    }
    const lastNl = buf.lastIndexOf(0x0a);
    const cut = offset + len < size && lastNl >= 0 ? lastNl + 1 : len;
    return { text: buf.subarray(0, cut).toString("utf8"), nextOffset: offset + cut };
  }
}
