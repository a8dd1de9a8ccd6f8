import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Invalid } from "../../src/errors";
import { run } from "../../src/exec/run";
import { moduleChecksum, normaliseVersion, parseManifest, readRepoModules } from "../../src/odoo/manifest";
import { makeTempDir, removeTempDir } from "../support/tmp";

const ODOO_MANIFEST = `# -*- coding: utf-8 -*-
# Part of Acme. See LICENSE file for full copyright and licensing details.
{
    'name': "Acme Sales",  # the display name
    'version': '1.2',
    'summary': 'Quotes' ' and ' "orders",
    'description': """
Long description with 'single' and "double" quotes,
and a backslash \\\\ and a tab\\t.
    """,
    'author': 'Acme, Odoo Community Association (OCA)',
    'depends': ['sale', 'stock',],
    'data': [
        'security/ir.model.access.csv',
        'views/sale_views.xml',  # trailing comma next
    ],
    'assets': {
        'web.assets_backend': [
            'acme_sales/static/src/**/*',
            ('remove', 'web/static/src/legacy/**/*'),
        ],
    },
    'external_dependencies': {'python': ['requests'], 'bin': []},
    'installable': True,
    'application': False,
    'auto_install': False,
    'sequence': -10,
    'price': 12.50,
    'currency': None,
    'images': ('static/description/banner.png',),
    'license': 'LGPL-3',
}
`;

const LITERALS: [string, string][] = [
  [
    "escapes",
    String.raw`{'a': 'x\ny\tz\\w\'q\"', 'b': "\x41\u00e9\U0001F600\101\0", 'c': '\d\w', 'd': 'one \
two'}`,
  ],
  ["raw strings", String.raw`{'a': r'\d+\'', 'b': R"\n", 'c': u'unicode', 'd': rb'\x', 'e': b'bytes'}`],
  ["triple quotes", `{'a': '''it's "quoted"\nacross lines''', 'b': """x""" 'y' r'''\\z'''}`],
  [
    "numbers",
    `{'a': 1, 'b': -2, 'c': + 3, 'd': 1.5, 'e': .5, 'f': 1e3, 'g': 0x1F, 'h': 0o17, 'i': 0b101, 'j': 1_000, 'k': 2.5E-2, 'l': 1., 'm': 0, 'n': 00, 'o': -0.0, 'p': 01.5}`,
  ],
  [
    "containers",
    `{'a': {}, 'b': [], 'c': (), 'd': ('x'), 'e': ('x',), 'f': (1, 2,), 'g': [[1, [2, (3,)]]], 'h': {'k': {'k2': {'k3': None}}}, 'i': {1, 2, 3,}}`,
  ],
  ["duplicates: the last wins", `{'a': 1, 'b': 2, 'a': 3}`],
  ["unicode text", `{'name': 'Ventes – Société Générale ✓', 'x': '日本語'}`],
  ["CRLF line endings and continuations", `{\r\n  'a': 1,  # c\r\n  'b': \\\r\n  2,\r\n}\r\n`],
  ["comments everywhere", `# top\n{ # open\n 'a' # key\n : # colon\n 1 # value\n , # comma\n } # close\n# end`],
];

/** What Python's ast.literal_eval makes of each text (tuples and sets as lists, bytes as latin-1). */
async function pythonLiteralEval(texts: string[]): Promise<unknown[]> {
  const script = [
    "import ast, json, sys",
    "def walk(o):",
    "    if isinstance(o, bytes): return o.decode('latin-1')",
    "    if isinstance(o, dict): return {k: walk(x) for k, x in o.items()}",
    "    if isinstance(o, (set, frozenset)): return sorted(walk(x) for x in o)",
    "    if isinstance(o, (list, tuple)): return [walk(x) for x in o]",
    "    return o",
    "print(json.dumps([walk(ast.literal_eval(t)) for t in json.load(sys.stdin)]))",
  ].join("\n");
  const r = await run({ argv: ["python3", "-I", "-S", "-c", script], stdin: JSON.stringify(texts) });
  return JSON.parse(r.stdout) as unknown[];
}

describe("parseManifest", () => {
  let python: unknown[];
  beforeAll(async () => {
    python = await pythonLiteralEval([ODOO_MANIFEST, ...LITERALS.map(([, text]) => text)]);
  });

  test("a real-world Odoo manifest reads as Python reads it", () => {
    const parsed = parseManifest(ODOO_MANIFEST, "acme_sales/__manifest__.py");
    expect(parsed).toEqual(python[0] as Record<string, unknown>);
    expect(parsed.name).toBe("Acme Sales");
    expect(parsed.summary).toBe("Quotes and orders");
    expect(parsed.depends).toEqual(["sale", "stock"]);
    expect(parsed.description).toContain(`'single' and "double" quotes,\nand a backslash \\ and a tab\t.`);
    expect(parsed.assets).toEqual({
      "web.assets_backend": ["acme_sales/static/src/**/*", ["remove", "web/static/src/legacy/**/*"]],
    });
    expect(parsed.installable).toBe(true);
    expect(parsed.currency).toBeNull();
    expect(parsed.sequence).toBe(-10);
    expect(parsed.images).toEqual(["static/description/banner.png"]);
  });

  test.each(LITERALS.map(([name, text], i) => [name, text, i + 1] as const))(
    "%s: same value as Python's ast.literal_eval",
    (_name, text, i) => {
      expect(parseManifest(text, "m.py")).toEqual(python[i] as Record<string, unknown>);
    },
  );

  test("a byte-order mark is ignored; __proto__ stays a plain key", () => {
    expect(parseManifest("\uFEFF{'a': 1}", "m.py")).toEqual({ a: 1 });
    const p = parseManifest("{'__proto__': {'polluted': True}}", "m.py");
    expect(Object.keys(p)).toEqual(["__proto__"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(p)).toBe(Object.prototype);
  });

  test.each([
    ["a name", "{\n  'a': 1,\n  'b': foo,\n}", "3:8", /a name is not a literal/],
    ["a call", "{'data': open('/etc/passwd').read()}", "1:10", /a name is not a literal/],
    ["an import", "__import__('os').system('id')", "1:1", /a name is not a literal/],
    ["arithmetic", "{'a': 1 + 2}", "1:9", /expected "," or "}"/],
    ["an f-string", "{'a': f'{x}'}", "1:7", /f-strings are not literals/],
    ["an unterminated string", "{\n'a': 'abc,\n}", "2:6", /unterminated string/],
    ["an unterminated triple-quoted string", "{'a': '''abc\n\n}", "1:7", /unterminated string/],
    ["a missing comma", "{\n 'a': 1\n 'b': 2\n}", "3:2", /expected "," or "}"/],
    ["a missing closing brace", "{'a': [1, 2]", "1:13", /expected "," or "}"/],
    ["a list at the top", "['a', 'b']", "1:1", /must be a dict/],
    ["text after the dict", "{'a': 1}\nx = 2", "2:1", /unexpected text/],
    ["a complex number", "{'a': 1j}", "1:7", /invalid number/],
    ["leading zeros", "{'a': 007}", "1:7", /leading zeros/],
    ["a number key", "{1: 'a'}", "1:2", /keys must be strings/],
    ["an empty file", "# only a comment\n", "2:1", /found the end of the file/],
    ["a lambda", "{'a': lambda: 1}", "1:7", /a name is not a literal/],
    ["a double sign", "{'a': --1}", "1:7", /expected a number/],
    ["a \\N escape", "{'a': '\\N{BULLET}'}", "1:8", /\\N\{\.\.\.\} escapes/],
    ["a truncated \\x escape", "{'a': '\\x4'}", "1:8", /truncated \\x escape/],
    ["deep nesting", "{'a': " + "[".repeat(100) + "]".repeat(100) + "}", "1:", /nested deeper than 64/],
    ["a stray character", "{'a': @}", "1:7", /unexpected character$/],
  ])("rejects %s, naming the file, line and column", (_name, text, at, why) => {
    let err: unknown;
    try {
      parseManifest(text, "acme/__manifest__.py");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Invalid);
    expect((err as Error).message).toStartWith(`acme/__manifest__.py:${at}`);
    expect((err as Error).message).toMatch(why);
  });
});

describe("normaliseVersion (Odoo's adapt_version)", () => {
  test.each([
    ["1.2", "17.0.1.2"],
    ["1.0.3", "17.0.1.0.3"],
    ["17.0.1.2", "17.0.1.2"],
    ["17.0", "17.0.17.0"],
    ["16.0.1.0.0", "17.0.16.0.1.0.0"],
    ["17.01", "17.0.17.01"],
  ])("%p → %p", (v, out) => {
    expect(normaliseVersion(v, "17.0")).toBe(out);
  });
});

describe("readRepoModules", () => {
  let tmp: string;
  const write = (rel: string, content: string) => {
    mkdirSync(join(tmp, rel, ".."), { recursive: true });
    writeFileSync(join(tmp, rel), content);
  };

  beforeAll(() => {
    tmp = makeTempDir("odooops-manifest-");
  });
  afterAll(() => removeTempDir(tmp));

  test("modules are the root's subdirectories with a manifest, normalised and checksummed", () => {
    const repo = join(tmp, "repo");
    write("repo/acme_sales/__manifest__.py", ODOO_MANIFEST);
    write("repo/acme_sales/models/__init__.py", "from . import sale\n");
    write("repo/acme_stock/__manifest__.py", "{'name': 'Stock', 'version': '17.0.2.0', 'depends': ['stock']}");
    write("repo/acme_old/__manifest__.py", "{'name': 'Old', 'installable': False}");
    write("repo/addons/deeper_module/__manifest__.py", "{'name': 'Deeper'}");
    write("repo/.github/__manifest__.py", "{'name': 'hidden'}");
    write("repo/docs/index.md", "# docs");
    write("repo/requirements.txt", "requests\n");
    const modules = readRepoModules(repo, "17.0");
    expect(modules.map((m) => [m.name, m.version, m.installable, m.depends])).toEqual([
      ["acme_old", "17.0.1.0", false, []],
      ["acme_sales", "17.0.1.2", true, ["sale", "stock"]],
      ["acme_stock", "17.0.2.0", true, ["stock"]],
    ]);
    for (const m of modules) expect(m.checksum).toMatch(/^[0-9a-f]{64}$/);
    expect(modules[1].checksum).toBe(moduleChecksum(join(repo, "acme_sales")));
  });

  test("the checksum follows content and paths, not location or byte code", () => {
    write("c1/m/__manifest__.py", "{'name': 'M'}");
    write("c1/m/models/a.py", "x = 1\n");
    write("c2/m/__manifest__.py", "{'name': 'M'}");
    write("c2/m/models/a.py", "x = 1\n");
    write("c2/m/models/__pycache__/a.cpython-311.pyc", "bytecode");
    write("c2/m/b.pyc", "bytecode");
    const base = moduleChecksum(join(tmp, "c1/m"));
    expect(moduleChecksum(join(tmp, "c2/m"))).toBe(base);
    write("c2/m/models/a.py", "x = 2\n");
    expect(moduleChecksum(join(tmp, "c2/m"))).not.toBe(base);
    write("c3/m/__manifest__.py", "{'name': 'M'}");
    write("c3/m/models/b.py", "x = 1\n");
    expect(moduleChecksum(join(tmp, "c3/m"))).not.toBe(base);
    // Path and content boundaries cannot be shifted into each other.
    write("c4/m/ab", "c");
    write("c5/m/a", "bc");
    expect(moduleChecksum(join(tmp, "c4/m"))).not.toBe(moduleChecksum(join(tmp, "c5/m")));
  });

  test("a bad manifest fails naming the module's file and line", () => {
    write("bad/good_one/__manifest__.py", "{'name': 'ok'}");
    write("bad/broken/__manifest__.py", "{\n  'name': 'Broken',\n  'version': '1.0'\n  'depends': [],\n}");
    expect(() => readRepoModules(join(tmp, "bad"), "17.0")).toThrow("broken/__manifest__.py:4:12");
    write("bad2/m/__manifest__.py", "{'version': 1.0}");
    expect(() => readRepoModules(join(tmp, "bad2"), "17.0")).toThrow(/m\/__manifest__\.py: version: .*string/);
    write("bad3/m/__manifest__.py", "{'depends': ['sale', 'bad name']}");
    expect(() => readRepoModules(join(tmp, "bad3"), "17.0")).toThrow(/m\/__manifest__\.py: depends\.1: module names/);
    write("bad4/my-module/__manifest__.py", "{}");
    expect(() => readRepoModules(join(tmp, "bad4"), "17.0")).toThrow(
      /my-module\/__manifest__\.py: module directory names/,
    );
    expect(() => readRepoModules(join(tmp, "bad"), "17")).toThrow(Invalid);
  });
});
