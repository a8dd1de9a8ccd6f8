/** A Logger that records lines instead of printing them (assertions on what a job would log). */
import type { Fields, Logger } from "../../src/log";

export function memoryLog(lines: string[] = []): Logger & { lines: string[] } {
  const make = (tags: Fields): Logger => {
    const emit = (level: string) => (msg: string, fields?: Fields) => {
      lines.push(`${level} ${msg} ${JSON.stringify({ ...tags, ...fields })}`);
    };
    return {
      debug: emit("debug"),
      info: emit("info"),
      warn: emit("warn"),
      error: emit("error"),
      tag: (more) => make({ ...tags, ...more }),
    };
  };
  return Object.assign(make({}), { lines });
}
