/** One look at the docker engine, shared by the docker, image and disk checks. */
import { errorText } from "../errors";
import { run } from "../exec/run";
import { dockerRootDir, dockerServerVersion } from "./commands";

export type DockerProbe =
  | { ok: true; version: string; rootDir: string | null }
  | { ok: false; missing: boolean; error: string };

/** True when spawning failed because the program does not exist. */
export function isMissingBinary(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === "ENOENT";
}

export function firstLine(text: string): string {
  return (
    text
      .trim()
      .split("\n")
      .find((l) => l.trim() !== "")
      ?.trim() ?? ""
  );
}

export async function probeDocker(binary: string): Promise<DockerProbe> {
  try {
    const v = await run(dockerServerVersion(binary), { nothrow: true });
    if (v.exitCode !== 0)
      return { ok: false, missing: false, error: firstLine(v.stderr) || `docker version exited with ${v.exitCode}` };
    const info = await run(dockerRootDir(binary), { nothrow: true });
    return {
      ok: true,
      version: v.stdout.trim(),
      rootDir: info.exitCode === 0 && info.stdout.trim().startsWith("/") ? info.stdout.trim() : null,
    };
  } catch (e) {
    return { ok: false, missing: isMissingBinary(e), error: errorText(e) };
  }
}
