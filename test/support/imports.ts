/**
 * The import graph of src/ and the layer rules of docs/architecture.md ("Layers"), checked by
 * test/architecture.test.ts. Pure over a graph, so the rules are unit-tested on made-up graphs.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Glob } from "bun";

/** `value`: kept in the build (runtime); `type`: erased (`import type`, type-only specifiers). */
export type ImportKind = "value" | "type";

export interface Edge {
  /** Importing file, relative to the repository: `src/env/actions.ts`. */
  from: string;
  to: string;
  kind: ImportKind;
}

// Bun's scanner drops type-only imports, which the layer rules must see too: the statements are
// matched here as well (the tree is formatted by biome, so every import starts a line).
const STATIC = /^(?:import|export)\s+(?:type\s+)?[\w$\s{},*]*?\bfrom\s*"([^"]+)"/gm;
const DYNAMIC = /\bimport\(\s*"([^"]+)"\s*\)/g;

function resolveSpec(root: string, from: string, spec: string): string | null {
  if (!spec.startsWith(".")) return null; // a package or a bun:/node: builtin
  const base = join(dirname(from), spec);
  for (const c of [base, `${base}.ts`, `${base}/index.ts`, `${base}.d.ts`])
    if (c.endsWith(".ts") && existsSync(join(root, c))) return c;
  return null; // templates, SQL, JSON: not code
}

/** Every import between .ts files under `<root>/src`. */
export function scanSrc(root: string): Edge[] {
  const transpiler = new Bun.Transpiler({ loader: "ts" });
  const files = [...new Glob("**/*.ts").scanSync(join(root, "src"))].map((f) => `src/${f}`).sort();
  const edges: Edge[] = [];
  for (const from of files) {
    const text = readFileSync(join(root, from), "utf8");
    // A shebang line (src/main.ts) is not TypeScript to the transpiler's scanner.
    const runtime = new Set(transpiler.scanImports(text.replace(/^#!.*/, "")).map((i) => i.path));
    const all = new Set([...runtime, ...[...text.matchAll(STATIC), ...text.matchAll(DYNAMIC)].map((m) => m[1])]);
    for (const spec of all) {
      const to = resolveSpec(root, from, spec);
      if (to) edges.push({ from, to, kind: runtime.has(spec) ? "value" : "type" });
    }
  }
  return edges;
}

/** `src/env/actions.ts` → `env`; a file directly under src/ → its name: `src/errors.ts` → `errors`. */
export function moduleOf(file: string): string {
  const parts = file.split("/");
  return parts.length > 2 ? parts[1] : parts[1].replace(/\.d\.ts$|\.ts$/, "");
}

/** Files directly under src/ that everything may import; they import only each other. */
export const BASE = new Set(["errors", "log", "bytes", "version", "types", "deps", "yaml-doc", "tenant-text"]);
export const DOMAINS = new Set(
  "env db deploy certs git github policy fleet auth audit jobs dr doctor init metrics state config odoo".split(" "),
);
const ENTRY = new Set(["api", "cli", "daemon", "console"]);
/** The bottom type module: type-only imports, so it cannot pull code (or a cycle) into anything. */
const DEPS_FILE = "src/deps.ts";
/**
 * CLI commands that work on this host without a daemon (start it, set it up, check it, recover
 * its state): they may use the domains directly. Every other command goes through cli/client.ts.
 */
export const LOCAL_COMMANDS = new Set(["serve", "init", "dr", "doctor"].map((c) => `src/cli/commands/${c}.ts`));
/** What a server-side-only module looks like: it reaches state, the job queue or a process spawn. */
const SERVER_ONLY = [/^src\/state\/db\.ts$/, /^src\/jobs\/queue\.ts$/, /^src\/exec\/run\.ts$/, /^src\/(api|daemon)\//];

export interface Violation {
  from: string;
  to: string;
  rule: string;
}

function closure(edges: Edge[], start: string): Set<string> {
  const out = new Map<string, string[]>();
  for (const e of edges) out.set(e.from, [...(out.get(e.from) ?? []), e.to]);
  const seen = new Set<string>();
  const todo = [start];
  while (todo.length > 0) {
    const f = todo.pop() as string;
    if (seen.has(f)) continue;
    seen.add(f);
    todo.push(...(out.get(f) ?? []));
  }
  return seen;
}

/** The direction rules, one violation per offending import. */
export function layerViolations(edges: Edge[]): Violation[] {
  const found: Violation[] = [];
  const serverOnly = new Map<string, string | undefined>();
  const reachesServer = (file: string) => {
    if (!serverOnly.has(file))
      serverOnly.set(
        file,
        [...closure(edges, file)].find((f) => SERVER_ONLY.some((re) => re.test(f))),
      );
    return serverOnly.get(file);
  };
  for (const e of edges) {
    const a = moduleOf(e.from);
    const b = moduleOf(e.to);
    const flag = (rule: string) => found.push({ from: e.from, to: e.to, rule });
    if (a === b) continue;
    if (b === "main") {
      flag("nothing imports src/main.ts");
      continue;
    }
    if (e.from === DEPS_FILE) {
      if (e.kind === "value") flag("src/deps.ts imports types only");
    } else if (BASE.has(a)) {
      if (!BASE.has(b)) flag("base files import only base files");
    } else if (a === "exec") {
      if (!BASE.has(b)) flag("exec/ imports only base files");
    } else if (a === "host") {
      if (b !== "exec" && !BASE.has(b)) flag("host/ imports only exec/ and base files");
    } else if (DOMAINS.has(a)) {
      if (ENTRY.has(b)) flag(`domains do not import ${b}/`);
    } else if (a === "api") {
      if (b === "cli" || b === "daemon") flag(`api/ does not import ${b}/`);
    } else if (a === "daemon") {
      if (b === "cli") flag(`daemon/ does not import ${b}/`);
    } else if (a === "console") {
      // The web console is a client of the API in process (daemon/serve.ts mounts it).
      if (b === "cli" || b === "daemon") flag(`console/ does not import ${b}/`);
    } else if (e.from === "src/cli/api.ts" && e.kind === "type" && e.to.startsWith("src/api/routes/")) {
      // The typed client's route definitions: types only, erased from the CLI's bundle.
    } else if (a === "cli" && !LOCAL_COMMANDS.has(e.from) && !BASE.has(b)) {
      const server = reachesServer(e.to);
      if (server) flag(`cli/ reaches the server only through cli/client.ts (${e.to} leads to ${server})`);
    }
  }
  return found;
}

/**
 * Import cycles over runtime imports, each as a path `a → b → … → a`, shortest first. Every
 * import that lies on a cycle shows up in one (its shortest way back), so a new cyclic import is
 * always named, even between files or modules already on another cycle.
 */
export function cycles(edges: Edge[]): string[] {
  const out = new Map<string, Set<string>>();
  for (const e of edges)
    if (e.kind === "value" && e.from !== e.to) out.set(e.from, (out.get(e.from) ?? new Set()).add(e.to));
  const found = new Set<string>();
  for (const [a, targets] of out)
    for (const b of targets) {
      const back = shortestPath(out, b, a);
      if (!back) continue;
      const path = [a, ...back.slice(0, -1)];
      const min = path.indexOf([...path].sort()[0]);
      const rotated = [...path.slice(min), ...path.slice(0, min)];
      found.add([...rotated, rotated[0]].join(" → "));
    }
  return [...found].sort((x, y) => x.split(" → ").length - y.split(" → ").length || x.localeCompare(y));
}

/** Breadth-first: the shortest path from `from` to `to` (both included), or null. */
function shortestPath(out: Map<string, Set<string>>, from: string, to: string): string[] | null {
  const prev = new Map<string, string>([[from, from]]);
  const queue = [from];
  while (queue.length > 0) {
    const f = queue.shift() as string;
    if (f === to) {
      const path = [to];
      while (path[0] !== from) path.unshift(prev.get(path[0]) as string);
      return path;
    }
    for (const g of out.get(f) ?? [])
      if (!prev.has(g)) {
        prev.set(g, f);
        queue.push(g);
      }
  }
  return null;
}

/**
 * File cycles as the check reports them: over runtime imports, plus type-only imports inside one
 * top-level folder (a folder whose files need each other's types is one tangle to its readers).
 * Across folders a type-only import cannot change load order, and src/deps.ts exists to be
 * imported for types by the modules whose types it names.
 */
export function fileCycles(edges: Edge[]): string[] {
  return cycles(edges.map((e) => (moduleOf(e.from) === moduleOf(e.to) ? { ...e, kind: "value" } : e)));
}

/**
 * A table file (`env/env.sql.ts`) counts as state's (and so does a vocabulary file it needs): state/schema.ts gathers every table for
 * drizzle, and tables import only state/columns.ts and other tables, never their domain's code.
 */
function liftedModule(file: string): string {
  return file.endsWith(".sql.ts") || VOCABULARY.has(file) ? "state" : moduleOf(file);
}

/** Import-free lists a table's column enums need (tiers, statuses): state's too, like the tables. */
export const VOCABULARY = new Set(["src/env/vocabulary.ts", "src/deploy/vocabulary.ts"]);

/** Cycles between top-level modules (folders and base files), over runtime imports. */
export function moduleCycles(edges: Edge[]): string[] {
  const lifted: Edge[] = edges
    .filter((e) => e.kind === "value")
    .map((e) => ({ from: liftedModule(e.from), to: liftedModule(e.to), kind: e.kind }));
  return cycles(lifted);
}
