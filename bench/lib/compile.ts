/**
 * Compiles a baseline program the same way `bun run build` compiles dist/odooops
 * (--compile --minify --bytecode), so ratios compare our code, not build flags or runtime versions.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export function compile(entry: string, outfile: string): string {
  const build = Bun.spawnSync(
    [process.execPath, "build", "--compile", "--minify", "--bytecode", "--sourcemap=none", entry, "--outfile", outfile],
    { stdout: "pipe", stderr: "pipe" },
  );
  if (build.exitCode !== 0) throw new Error(`compiling ${entry} failed:\n${build.stderr.toString()}`);
  return outfile;
}

/** The one-line program every CLI cold start is compared against. */
export function compileHello(dir: string): string {
  const entry = join(dir, "hello.ts");
  writeFileSync(entry, 'console.log("hello");\n');
  return compile(entry, join(dir, "hello"));
}
