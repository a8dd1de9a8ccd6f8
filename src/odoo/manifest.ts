/**
 * Odoo manifests, read the way Odoo reads them: `__manifest__.py` is one Python literal
 * (`ast.literal_eval`), never executed. The parser below accepts exactly the literal subset —
 * strings in every quoting, numbers, True/False/None, lists, tuples, sets, dicts, comments,
 * implicit string concatenation — and rejects anything else (names, calls, operators) with the
 * file, line and column, so a repository can never run code on the host by way of a manifest.
 *
 * Which modules a repository has: the direct subdirectories of its root that hold a
 * `__manifest__.py`. The release image copies the repository root to /mnt/extra-addons, which is
 * the addons path, so a module in a deeper folder would not be loadable by Odoo either.
 */
import { createHash } from "node:crypto";
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { Invalid, issuesText } from "../errors";

export interface RepoModule {
  name: string;
  /** Normalised like Odoo: `1.2` → `<series>.1.2`. */
  version: string;
  /** sha256 over the module directory's files (sorted relative paths and contents). */
  checksum: string;
  installable: boolean;
  depends: string[];
}

export type PyValue = string | number | boolean | null | PyValue[] | { [key: string]: PyValue };

const MAX_DEPTH = 64;
const STRING_PREFIX = /^(r|u|b|br|rb)$/i;
const SIMPLE_ESCAPES: Record<string, string> = {
  "\\": "\\",
  "'": "'",
  '"': '"',
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
};

class LiteralParser {
  private pos = 0;
  private depth = 0;

  constructor(
    private readonly text: string,
    private readonly where: string,
  ) {}

  fail(message: string, at = this.pos): never {
    const before = this.text.slice(0, at);
    const line = before.split(/\r\n|\r|\n/).length;
    const col = at - Math.max(before.lastIndexOf("\n"), before.lastIndexOf("\r"));
    throw new Invalid(`${this.where}:${line}:${col}: ${message}`);
  }

  /** Whitespace, newlines, comments and backslash continuations: none of them mean anything here. */
  private skip(): void {
    for (;;) {
      const c = this.text[this.pos];
      if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f") this.pos++;
      else if (c === "#") {
        while (this.pos < this.text.length && this.text[this.pos] !== "\n" && this.text[this.pos] !== "\r") this.pos++;
      } else if (c === "\\" && /^\\(\r\n|\r|\n)/.test(this.text.slice(this.pos, this.pos + 3))) {
        this.pos += this.text[this.pos + 1] === "\r" && this.text[this.pos + 2] === "\n" ? 3 : 2;
      } else return;
    }
  }

  private peek(): string | undefined {
    this.skip();
    return this.text[this.pos];
  }

  private expect(ch: string): void {
    if (this.peek() !== ch)
      this.fail(
        this.pos >= this.text.length
          ? `expected ${JSON.stringify(ch)}, found the end of the file`
          : `expected ${JSON.stringify(ch)}`,
      );
    this.pos++;
  }

  document(): PyValue {
    const value = this.value();
    if (this.peek() !== undefined) this.fail("unexpected text after the literal");
    return value;
  }

  private value(): PyValue {
    const c = this.peek();
    if (c === undefined) this.fail("expected a value, found the end of the file");
    if (c === "{") return this.nested(() => this.braces());
    if (c === "[") return this.nested(() => this.sequence("[", "]"));
    if (c === "(") return this.nested(() => this.parens());
    if (c === "-" || c === "+" || c === "." || /[0-9]/.test(c)) return this.number();
    if (/[A-Za-z_]/.test(c)) {
      const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.text.slice(this.pos))![0];
      const quote = this.text[this.pos + word.length];
      if ((quote === "'" || quote === '"') && STRING_PREFIX.test(word)) return this.strings();
      if ((quote === "'" || quote === '"') && /f/i.test(word)) this.fail("f-strings are not literals");
      const start = this.pos;
      this.pos += word.length;
      if (word === "True") return true;
      if (word === "False") return false;
      if (word === "None") return null;
      this.fail(
        "a name is not a literal: only strings, numbers, True, False, None, lists, tuples and dicts are allowed",
        start,
      );
    }
    if (c === "'" || c === '"') return this.strings();
    this.fail("unexpected character");
  }

  private nested<T>(fn: () => T): T {
    if (++this.depth > MAX_DEPTH) this.fail(`nested deeper than ${MAX_DEPTH} levels`);
    const out = fn();
    this.depth--;
    return out;
  }

  /** Items up to `close`, commas between, an optional trailing comma. */
  private items(close: string, item: () => void): number {
    let n = 0;
    while (this.peek() !== close) {
      item();
      n++;
      if (this.peek() === ",") this.pos++;
      else if (this.peek() !== close) this.fail(`expected "," or ${JSON.stringify(close)}`);
    }
    this.pos++;
    return n;
  }

  private sequence(open: string, close: string): PyValue[] {
    this.expect(open);
    const out: PyValue[] = [];
    this.items(close, () => out.push(this.value()));
    return out;
  }

  /** `()` empty tuple, `(x)` just x, `(x,)` and `(x, y)` tuples (as arrays). */
  private parens(): PyValue {
    this.expect("(");
    if (this.peek() === ")") {
      this.pos++;
      return [];
    }
    const first = this.value();
    if (this.peek() === ")") {
      this.pos++;
      return first;
    }
    this.expect(",");
    const out = [first];
    this.items(")", () => out.push(this.value()));
    return out;
  }

  /** A dict (string keys only, the last duplicate wins as in Python) or a set (as an array). */
  private braces(): PyValue {
    this.expect("{");
    if (this.peek() === "}") {
      this.pos++;
      return {};
    }
    const keyAt = this.pos;
    const first = this.value();
    if (this.peek() !== ":") {
      const out = [first];
      if (this.peek() === ",") this.pos++;
      else if (this.peek() !== "}") this.fail('expected ",", ":" or "}"');
      this.items("}", () => out.push(this.value()));
      return out;
    }
    const dict: Record<string, PyValue> = {};
    const entry = (key: PyValue, at: number) => {
      if (typeof key !== "string") this.fail("dict keys must be strings", at);
      this.expect(":");
      // defineProperty: a key such as "__proto__" stays plain data.
      Object.defineProperty(dict, key, { value: this.value(), enumerable: true, writable: true, configurable: true });
    };
    entry(first, keyAt);
    if (this.peek() === ",") this.pos++;
    else if (this.peek() !== "}") this.fail('expected "," or "}"');
    this.items("}", () => {
      const at = this.pos;
      entry(this.value(), at);
    });
    return dict;
  }

  private number(): number {
    const start = this.pos;
    let sign = 1;
    if (this.text[this.pos] === "-" || this.text[this.pos] === "+") {
      sign = this.text[this.pos] === "-" ? -1 : 1;
      this.pos++;
      this.skip();
    }
    const rest = this.text.slice(this.pos);
    const m =
      /^0[xX](?:_?[0-9a-fA-F])+|^0[oO](?:_?[0-7])+|^0[bB](?:_?[01])+/.exec(rest) ??
      /^(?:(?:[0-9](?:_?[0-9])*)?\.[0-9](?:_?[0-9])*|[0-9](?:_?[0-9])*\.?)(?:[eE][+-]?[0-9](?:_?[0-9])*)?/.exec(rest);
    if (!m || m[0] === "") this.fail("expected a number", start);
    const raw = m[0].replace(/_/g, "");
    this.pos += m[0].length;
    if (/^[A-Za-z0-9_.]/.test(this.text[this.pos] ?? "")) this.fail("invalid number", start);
    if (/^0[0-9]+$/.test(raw) && !/^0+$/.test(raw))
      this.fail("leading zeros in a decimal number are not allowed in Python 3", start);
    const n = /^0[xob]/i.test(raw) ? Number(raw.toLowerCase()) : Number(raw);
    return sign * n;
  }

  /** One or more adjacent string literals, concatenated as Python does. */
  private strings(): string {
    let out = this.string();
    for (;;) {
      const c = this.peek();
      const word = /^[A-Za-z]{1,2}(?=['"])/.exec(this.text.slice(this.pos, this.pos + 3))?.[0];
      const prefixed = word !== undefined && STRING_PREFIX.test(word);
      if (c !== "'" && c !== '"' && !prefixed) return out;
      out += this.string();
    }
  }

  private string(): string {
    const start = this.pos;
    const prefix = /^[rRuUbB]{0,2}/.exec(this.text.slice(this.pos))![0];
    const raw = /r/i.test(prefix);
    this.pos += prefix.length;
    const q = this.text[this.pos];
    const triple = this.text.startsWith(q.repeat(3), this.pos);
    const close = triple ? q.repeat(3) : q;
    this.pos += close.length;
    let out = "";
    for (;;) {
      if (this.pos >= this.text.length) this.fail("unterminated string", start);
      if (this.text.startsWith(close, this.pos)) {
        this.pos += close.length;
        return out;
      }
      const c = this.text[this.pos];
      if (!triple && (c === "\n" || c === "\r"))
        this.fail("unterminated string (a newline needs triple quotes)", start);
      if (c !== "\\") {
        out += c;
        this.pos++;
        continue;
      }
      const next = this.text[this.pos + 1];
      if (next === undefined) this.fail("unterminated string", start);
      if (raw) {
        // Raw strings keep the backslash; it only stops the next quote from closing the string.
        out += c + next;
        this.pos += 2;
        continue;
      }
      out += this.escape();
    }
  }

  private escape(): string {
    const at = this.pos;
    const next = this.text[this.pos + 1];
    this.pos += 2;
    if (next === "\n") return "";
    if (next === "\r") {
      if (this.text[this.pos] === "\n") this.pos++;
      return "";
    }
    if (next in SIMPLE_ESCAPES) return SIMPLE_ESCAPES[next];
    if (/[0-7]/.test(next)) {
      const digits = /^[0-7]{0,2}/.exec(this.text.slice(this.pos))![0];
      this.pos += digits.length;
      return String.fromCodePoint(parseInt(next + digits, 8));
    }
    const hexLen = next === "x" ? 2 : next === "u" ? 4 : next === "U" ? 8 : 0;
    if (hexLen > 0) {
      const hex = this.text.slice(this.pos, this.pos + hexLen);
      if (!new RegExp(`^[0-9a-fA-F]{${hexLen}}$`).test(hex)) this.fail(`truncated \\${next} escape`, at);
      const cp = parseInt(hex, 16);
      if (cp > 0x10ffff) this.fail(`\\${next} escape is not a valid code point`, at);
      this.pos += hexLen;
      return String.fromCodePoint(cp);
    }
    if (next === "N") this.fail("\\N{...} escapes are not supported; write the character itself", at);
    // Python keeps unknown escapes as they are.
    return `\\${next}`;
  }
}

/** A manifest's dict, as `ast.literal_eval` would return it; Invalid naming `where` otherwise. */
export function parseManifest(text: string, where: string): Record<string, unknown> {
  const parser: LiteralParser = new LiteralParser(text.replace(/^\uFEFF/, ""), where);
  const value = parser.document();
  if (value === null || typeof value !== "object" || Array.isArray(value))
    parser.fail("a manifest must be a dict literal", 0);
  return value;
}

const ManifestFields = z.looseObject({
  version: z.string().min(1).optional(),
  installable: z.boolean().optional(),
  depends: z.array(z.string().regex(/^[A-Za-z0-9_]+$/, "module names are letters, digits and _")).optional(),
});

/** Odoo's `adapt_version`: versions are prefixed with the series unless they already carry it. */
export function normaliseVersion(version: string, series: string): string {
  return version === series || !version.startsWith(`${series}.`) ? `${series}.${version}` : version;
}

function moduleFiles(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    // Byte code is a by-product of running the code, not a change to it.
    if (entry.name === "__pycache__" || entry.name.endsWith(".pyc")) continue;
    if (entry.isDirectory()) out.push(...moduleFiles(dir, rel));
    else out.push(rel);
  }
  return out;
}

/**
 * sha256 over every file of the module, in sorted path order: path, NUL, length, NUL, content.
 * Symlinks count by their target, not what they point at. Same tree → same checksum, on any host.
 */
export function moduleChecksum(dir: string): string {
  const hash = createHash("sha256");
  for (const rel of moduleFiles(dir).sort()) {
    const full = join(dir, rel);
    const content = lstatSync(full).isSymbolicLink()
      ? Buffer.from(`symlink:${readlinkSync(full)}`)
      : readFileSync(full);
    hash.update(rel).update("\0").update(String(content.length)).update("\0").update(content);
  }
  return hash.digest("hex");
}

/**
 * The text of a manifest that must be a regular file of the tree. O_NOFOLLOW: a symbolic link is
 * refused, never followed — the daemon reads as root and a link could name any host file.
 */
function readRegularFile(path: string, where: string): string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ELOOP") throw new Invalid(`${where}: is a symbolic link; a manifest must be a regular file`);
    throw new Invalid(`${where}: cannot be read (${code ?? "error"})`);
  }
  try {
    if (!fstatSync(fd).isFile()) throw new Invalid(`${where}: is not a regular file`);
    return readFileSync(fd, "utf8");
  } finally {
    closeSync(fd);
  }
}

/** The modules at the root of a repository checkout (see the header), sorted by name. */
export function readRepoModules(dir: string, series: string): RepoModule[] {
  if (!/^(saas~)?\d+\.\d+$/.test(series)) throw new Invalid(`invalid Odoo series ${JSON.stringify(series)}: like 17.0`);
  const modules: RepoModule[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (!entry.isDirectory() || entry.name.startsWith(".")) continue;
    const manifestFile = join(dir, entry.name, "__manifest__.py");
    const kind = lstatSync(manifestFile, { throwIfNoEntry: false });
    if (!kind) continue;
    const where = `${entry.name}/__manifest__.py`;
    if (!/^[A-Za-z0-9_]+$/.test(entry.name)) {
      throw new Invalid(
        `${where}: module directory names are letters, digits and _ (Odoo imports them as Python packages)`,
      );
    }
    const parsed = ManifestFields.safeParse(parseManifest(readRegularFile(manifestFile, where), where));
    if (!parsed.success) {
      // The first problem only: a manifest is fixed one field at a time.
      throw new Invalid(
        `${where}: ${issuesText({ issues: parsed.error.issues.slice(0, 1) }, { topLevel: "manifest" })}`,
      );
    }
    const m = parsed.data;
    modules.push({
      name: entry.name,
      version: normaliseVersion(m.version ?? "1.0", series),
      checksum: moduleChecksum(join(dir, entry.name)),
      installable: m.installable ?? true,
      depends: m.depends ?? [],
    });
  }
  return modules;
}
