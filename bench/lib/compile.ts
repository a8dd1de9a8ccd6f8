/**
 * Compiles a baseline program with the flags of `bun run build` (read from package.json), so
 * ratios compare our code, not build flags or runtime versions.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The `--…` flags of package.json's build script, except where it writes. */
export function buildFlags(): string[] {
  const pkg = JSON.parse(readFileSync(join(import.meta.dir, "..", "..", "package.json"), "utf8")) as {
    scripts: { build: string };
  };
  return pkg.scripts.build.split(/\s+/).filter((a) => a.startsWith("--") && a !== "--outfile");
}

export function compile(entry: string, outfile: string): string {
  const build = Bun.spawnSync([process.execPath, "build", ...buildFlags(), entry, "--outfile", outfile], {
    stdout: "pipe",
    stderr: "pipe",
  });
  if (build.exitCode !== 0) throw new Error(`compiling ${entry} failed:\n${build.stderr.toString()}`);
  return outfile;
}

/** The one-line program every CLI cold start is compared against. */
export function compileHello(dir: string): string {
  const entry = join(dir, "hello.ts");
  writeFileSync(entry, 'console.log("hello");\n');
  return compile(entry, join(dir, "hello"));
}
