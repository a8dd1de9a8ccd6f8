/**
 * One psql session of the PII check (copyReader) reading `COPY (SELECT …) TO STDOUT WITH (FORMAT
 * binary)` one after another: a statement is written to its stdin, its tuples are parsed off its
 * stdout (copy-binary.ts) as they come. The next chunk is read only once the last one is parsed
 * and matched: psql's pipe fills, psql waits, and the daemon holds one chunk and one tuple at
 * most, whatever the table's size.
 */
import { spawnStreaming } from "../../exec/run";
import type { TenantLogin } from "../../host/postgres/tenant";
import { CopyBinaryParser, type CopyTuple } from "./copy-binary";
import { copyReader } from "./commands";

interface Pending {
  onTuple: (tuple: CopyTuple) => void;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class CopySession {
  private readonly proc: ReturnType<typeof spawnStreaming>;
  private readonly stdin: Bun.FileSink;
  private readonly pending: Pending[] = [];
  private readonly parser: CopyBinaryParser;
  private readonly pumped: Promise<void>;

  constructor(login: TenantLogin) {
    const cmd = copyReader(login, login.database);
    // Values arrive as the database stores them (UTF-8 for Odoo), whatever psql's locale.
    cmd.env = { ...cmd.env, PGCLIENTENCODING: "UTF8" };
    this.proc = spawnStreaming(cmd, { stdin: "pipe" });
    const stdin = this.proc.proc.stdin;
    if (typeof stdin !== "object" || stdin === null) throw new Error("psql stdin is not a pipe");
    this.stdin = stdin;
    this.parser = new CopyBinaryParser({
      onTuple: (t) => this.pending[0]?.onTuple(t),
      onEnd: () => this.pending.shift()?.resolve(),
    });
    this.pumped = this.pump();
  }

  /** Every row of `select` to `onTuple`, in order; resolves after its last one. */
  copy(select: string, onTuple: (tuple: CopyTuple) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ onTuple, resolve, reject });
      this.stdin.write(`COPY (${select}) TO STDOUT WITH (FORMAT binary);\n`);
      this.stdin.flush();
    });
  }

  private async pump(): Promise<void> {
    try {
      for await (const chunk of this.proc.stdout) this.parser.push(chunk);
      if (this.pending.length > 0) {
        // psql stopped at an error (ON_ERROR_STOP): its exit code and stderr say which.
        await this.proc.done();
        throw new Error("psql ended before its COPY did");
      }
    } catch (e) {
      for (const p of this.pending.splice(0)) p.reject(e);
      this.proc.proc.kill("SIGKILL");
    }
  }

  /** Ends the session (after the COPYs written); throws when psql failed. */
  async close(): Promise<void> {
    this.stdin.end();
    await this.pumped;
    await this.proc.done();
  }

  /** Stops psql where it is (another reader failed: the check has failed). */
  async abort(): Promise<void> {
    this.proc.proc.kill("SIGKILL");
    await this.pumped;
    await this.proc.proc.exited;
  }
}
