/** A Logger writing into a job's log, for building blocks that log structured lines. */
import type { Fields, Logger } from "../log";

export function stepLogger(sink: { log(line: string): void }, tags: Fields = {}): Logger {
  const emit = (level: string) => (msg: string, fields?: Fields) => {
    const kv = Object.entries({ ...tags, ...fields })
      .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
      .join(" ");
    sink.log(`${level === "info" ? "" : `${level}: `}${msg}${kv ? ` ${kv}` : ""}`);
  };
  return {
    debug: () => undefined,
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
    tag: (more) => stepLogger(sink, { ...tags, ...more }),
  };
}
