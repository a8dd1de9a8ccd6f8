/**
 * YAML documents that users write in their repositories (`.odooops/policies.yaml`,
 * `.odooops/anonymize.yaml`), validated by a zod schema. Every problem names `file:line: key.path`,
 * so the author can fix the file without guessing.
 */
import { LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { Invalid } from "./errors";

/** `["branch_mappings", 2, "pattern"]` → `branch_mappings[2].pattern`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (acc, key) => (typeof key === "number" ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)),
    "",
  );
}

export type YamlCheck<T> = { ok: true; value: T } | { ok: false; yaml: boolean; problems: string[] };

/** Every problem of a document (an empty one is `{}`), each `file:line: key.path: problem` (YAML syntax errors: `file:line: message`). */
export function checkYamlDocument<S extends z.ZodType>(schema: S, text: string, file: string): YamlCheck<z.infer<S>> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      yaml: true,
      problems: doc.errors.map((e) => `${file}:${lines.linePos(e.pos[0]).line}: ${e.message.split("\n")[0]}`),
    };
  }
  const raw: unknown = doc.toJS() ?? {};
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { ok: true, value: parsed.data };
  const problems = parsed.error.issues.map((issue) => {
    const path = issue.code === "unrecognized_keys" ? [...issue.path, issue.keys[0] ?? ""] : issue.path;
    return `${file}:${lineOf(doc, lines, path)}: ${formatPath(path) || "(top level)"}: ${issue.message}`;
  });
  return { ok: false, yaml: false, problems };
}

/** The validated document, else Invalid `invalid YAML in …` / `invalid <what>: …` listing every problem. */
export function parseYamlDocument<S extends z.ZodType>(
  schema: S,
  text: string,
  file: string,
  what: string,
): z.infer<S> {
  const checked = checkYamlDocument(schema, text, file);
  if (checked.ok) return checked.value;
  throw new Invalid(`${checked.yaml ? "invalid YAML in" : `invalid ${what}:`} ${checked.problems.join("; ")}`, {
    problems: checked.problems,
  });
}

/** The line of the deepest node that exists along `path` (a missing key points at its parent). */
function lineOf(doc: ReturnType<typeof parseDocument>, lines: LineCounter, path: readonly PropertyKey[]): number {
  for (let depth = path.length; depth >= 0; depth--) {
    const keys = path.slice(0, depth).map((k) => (typeof k === "symbol" ? String(k) : k));
    const node: unknown = depth === 0 ? doc.contents : doc.getIn(keys, true);
    const range =
      node && typeof node === "object" && "range" in node
        ? (node.range as [number, number, number] | undefined)
        : undefined;
    if (range) return lines.linePos(range[0]).line;
  }
  return 1;
}
