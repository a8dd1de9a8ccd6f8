/**
 * What a state backup holds, before encryption: a JSON manifest line (each file's logical name,
 * size, sha256) then the files' bytes back to back. Names come from a fixed set mapped to this
 * host's paths, so a bundle can never name a path of its own (no traversal, no surprise file).
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import type { Paths } from "../config/paths";
import { Invalid, issuesText } from "../errors";

/** The control plane: state, the config and the secrets the state needs to be read. */
export const STATE_FILES = [
  "state.db",
  "config.yaml",
  "config.toml",
  "secret.key",
  "jwt-secret",
  "recovery.pub",
] as const;
export type StateFileName = (typeof STATE_FILES)[number];

/** Where each logical file lives on this host. */
export function stateFilePath(paths: Paths, name: StateFileName): string {
  switch (name) {
    case "state.db":
      return paths.stateDb;
    case "config.yaml":
      return paths.configYaml;
    case "config.toml":
      return paths.configToml;
    case "secret.key":
      return paths.secretKeyFile;
    case "jwt-secret":
      return paths.jwtSecretFile;
    case "recovery.pub":
      return paths.recoveryPublicKeyFile;
  }
}

const ManifestSchema = z
  .object({
    files: z
      .array(
        z
          .object({
            name: z.enum(STATE_FILES),
            size: z.number().int().min(0),
            sha256: z.string().regex(/^[0-9a-f]{64}$/),
          })
          .strict(),
      )
      .refine((fs) => new Set(fs.map((f) => f.name)).size === fs.length, "a file is listed twice")
      .refine((fs) => fs.some((f) => f.name === "state.db"), "state.db is missing"),
  })
  .strict();
export type BundleManifest = z.infer<typeof ManifestSchema>;

export interface BundleFile {
  name: StateFileName;
  bytes: Uint8Array;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

export function pack(files: BundleFile[]): Buffer {
  const manifest: BundleManifest = {
    files: files.map((f) => ({ name: f.name, size: f.bytes.byteLength, sha256: sha256(f.bytes) })),
  };
  return Buffer.concat([
    Buffer.from(`${JSON.stringify(ManifestSchema.parse(manifest))}\n`),
    ...files.map((f) => f.bytes),
  ]);
}

/** Splits a bundle back into its files, checking every size and digest; throws Invalid on any mismatch. */
export function unpack(plain: Buffer): { manifest: BundleManifest; files: BundleFile[] } {
  const nl = plain.indexOf(0x0a);
  if (nl < 0) throw new Invalid("state backup content has no manifest");
  let parsed: unknown;
  try {
    parsed = JSON.parse(plain.subarray(0, nl).toString("utf8"));
  } catch {
    throw new Invalid("state backup manifest is not JSON");
  }
  const r = ManifestSchema.safeParse(parsed);
  if (!r.success) throw new Invalid(`state backup manifest is invalid: ${issuesText(r.error, { paths: false })}`);
  const files: BundleFile[] = [];
  let at = nl + 1;
  for (const f of r.data.files) {
    const bytes = plain.subarray(at, at + f.size);
    if (bytes.length !== f.size) throw new Invalid(`state backup is truncated in ${f.name}`);
    if (sha256(bytes) !== f.sha256) throw new Invalid(`state backup file ${f.name} does not match its checksum`);
    files.push({ name: f.name, bytes });
    at += f.size;
  }
  if (at !== plain.length) throw new Invalid("state backup has trailing bytes after its files");
  return { manifest: r.data, files };
}
