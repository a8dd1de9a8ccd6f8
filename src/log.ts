/**
 * The one logger. Structured lines tagged by service; every secret ever registered with
 * `Secrets.add` is masked before a line is written, here and in command echoes.
 */
type Level = "debug" | "info" | "warn" | "error";
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

const secretValues = new Set<string>();
const secretPatterns: RegExp[] = [
  /(password|passwd|secret|token)(["']?\s*[=:]\s*["']?)([^\s"',&]+)/gi,
  /(Bearer\s+)([A-Za-z0-9._~+/=-]+)/g,
  /(postgres(?:ql)?:\/\/[^:\s/]+:)([^@\s]+)(@)/g,
];

export const Secrets = {
  add(...values: (string | undefined | null)[]) {
    for (const v of values) if (v && v.length >= 4) secretValues.add(v);
  },
  redact(text: string): string {
    let out = text;
    for (const v of secretValues) if (out.includes(v)) out = out.split(v).join("***");
    out = out.replace(secretPatterns[0], (_m, k, sep) => `${k}${sep}***`);
    out = out.replace(secretPatterns[1], (_m, b) => `${b}***`);
    out = out.replace(secretPatterns[2], (_m, a, _p, at) => `${a}***${at}`);
    return out;
  },
};

export interface Sink {
  write(line: string): void;
}

export type Fields = Record<string, unknown>;

const state: { level: Level; format: "text" | "json"; sink: Sink; base: Fields } = {
  level: (process.env.ODOOOPS_LOG_LEVEL as Level) in order ? (process.env.ODOOOPS_LOG_LEVEL as Level) : "info",
  format: process.env.ODOOOPS_LOG_FORMAT === "json" ? "json" : "text",
  sink: { write: (line) => process.stderr.write(line) },
  /** On every line (the daemon sets `host`, so a fleet's lines in one Loki stream say where). */
  base: {},
};

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  tag(fields: Fields): Logger;
}

function emit(level: Level, tags: Fields, msg: string, fields?: Fields) {
  if (order[level] < order[state.level]) return;
  const time = new Date().toISOString();
  const all = { ...state.base, ...tags, ...fields };
  let line: string;
  if (state.format === "json") {
    line = JSON.stringify({ time, level, msg, ...all });
  } else {
    const kv = Object.entries(all)
      .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
      .join(" ");
    line = `${time} ${level.toUpperCase().padEnd(5)} ${msg}${kv ? ` ${kv}` : ""}`;
  }
  state.sink.write(`${Secrets.redact(line)}\n`);
}

function make(tags: Fields): Logger {
  return {
    debug: (m, f) => emit("debug", tags, m, f),
    info: (m, f) => emit("info", tags, m, f),
    warn: (m, f) => emit("warn", tags, m, f),
    error: (m, f) => emit("error", tags, m, f),
    tag: (more) => make({ ...tags, ...more }),
  };
}

export const Log = {
  create(service: string): Logger {
    return make({ service });
  },
  configure(opts: { level?: Level; format?: "text" | "json"; sink?: Sink; base?: Fields }) {
    Object.assign(state, Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)));
  },
};
