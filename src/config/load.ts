/**
 * The one config loader: <configDir>/config.yaml or config.toml, then ODOOOPS_* env overrides,
 * then explicit overrides (CLI flags), validated by zod. Errors name the file and the exact key.
 */
import { existsSync, readFileSync } from "node:fs";
import { SecretBox } from "../auth/secretbox";
import { parse as parseToml } from "smol-toml";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { Invalid, issuesText, errorText } from "../errors";
import { readHostRules } from "../db/anonymize-rules";
import { type Config, ConfigSchema } from "./schema";
import type { Paths } from "./paths";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Leaf = { path: string[]; kind: "string" | "number" | "boolean" | "array" };

const upperSnake = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();

function leaves(obj: Record<string, unknown>, prefix: string[] = []): Leaf[] {
  const out: Leaf[] = [];
  for (const [k, v] of Object.entries(obj)) {
    const path = [...prefix, k];
    if (Array.isArray(v)) out.push({ path, kind: "array" });
    else if (v !== null && typeof v === "object") out.push(...leaves(v as Record<string, unknown>, path));
    else out.push({ path, kind: typeof v === "number" ? "number" : typeof v === "boolean" ? "boolean" : "string" });
  }
  return out;
}

/** ODOOOPS_POSTGRES_PORT → postgres.port, ODOOOPS_TIERS_DEV_MEMORY_MB → tiers.dev.memoryMb … */
export function envOverrideNames(): Map<string, Leaf> {
  const all = [
    ...leaves(ConfigSchema.parse({}) as Record<string, unknown>),
    { path: ["publicUrl"], kind: "string" as const },
  ];
  return new Map(all.map((l) => [`ODOOOPS_${l.path.map(upperSnake).join("_")}`, l]));
}

function setPath(target: Record<string, Json>, path: string[], value: Json) {
  let cur = target;
  for (const key of path.slice(0, -1)) {
    if (typeof cur[key] !== "object" || cur[key] === null || Array.isArray(cur[key])) cur[key] = {};
    cur = cur[key] as Record<string, Json>;
  }
  cur[path[path.length - 1]] = value;
}

function envValue(name: string, raw: string, kind: Leaf["kind"]): Json {
  if (kind === "number") {
    const n = Number(raw);
    if (raw.trim() === "" || Number.isNaN(n))
      throw new Invalid(`${name}: expected a number, got ${JSON.stringify(raw)}`);
    return n;
  }
  if (kind === "boolean") {
    if (!["true", "false", "1", "0"].includes(raw))
      throw new Invalid(`${name}: expected true or false, got ${JSON.stringify(raw)}`);
    return raw === "true" || raw === "1";
  }
  if (kind === "array")
    return raw
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  return raw;
}

export function formatIssues(source: string, error: z.ZodError): string {
  return issuesText(error, { prefix: source, topLevel: "(top level)", sep: "\n" });
}

function readFile(paths: Paths): { source: string; data: Record<string, Json> } | null {
  for (const [file, kind] of [
    [paths.configYaml, "yaml"],
    [paths.configToml, "toml"],
  ] as const) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, "utf8");
    if (kind === "yaml") {
      const doc = parseDocument(text);
      if (doc.errors.length) {
        const e = doc.errors[0];
        throw new Invalid(`${file}:${e.linePos?.[0]?.line ?? "?"}: invalid YAML: ${e.message.split("\n")[0]}`);
      }
      const data = doc.toJS() ?? {};
      if (typeof data !== "object" || Array.isArray(data))
        throw new Invalid(`${file}: expected a mapping at the top level`);
      return { source: file, data };
    }
    try {
      return { source: file, data: parseToml(text) as Record<string, Json> };
    } catch (e) {
      throw new Invalid(`${file}: invalid TOML: ${errorText(e).split("\n")[0]}`);
    }
  }
  return null;
}

/** Config values stored encrypted (`odooops init` writes secrets this way): `enc:` + a SecretBox seal. */
export const ENCRYPTED_PREFIX = "enc:";

export function isEncryptedValue(v: unknown): v is string {
  return typeof v === "string" && v.startsWith(ENCRYPTED_PREFIX);
}

function readKey(keyFile: string, where: string): SecretBox {
  let text: string;
  try {
    text = readFileSync(keyFile, "utf8").trim();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT")
      throw new Invalid(
        `${where} is encrypted but the key file ${keyFile} does not exist: restore it, or run \`odooops init\` to enter the secret again`,
      );
    throw new Invalid(
      `${where} is encrypted and the key file ${keyFile} cannot be read (${code ?? errorText(e)}): run as root`,
    );
  }
  return new SecretBox(Buffer.from(text, "base64url"));
}

/**
 * Replaces every `enc:v1:…` string (at any depth) by its plaintext, decrypted with `keyFile`.
 * The key is read only when an encrypted value is present, so plain configs need no key file.
 */
export function decryptConfigValues(data: Record<string, Json>, keyFile: string, source: string): Record<string, Json> {
  let box: SecretBox | null = null;
  const walk = (v: Json, path: string[]): Json => {
    if (isEncryptedValue(v)) {
      const where = `${source}: ${path.join(".")}`;
      box ??= readKey(keyFile, where);
      try {
        return box.open(v.slice(ENCRYPTED_PREFIX.length));
      } catch {
        throw new Invalid(
          `${where}: cannot decrypt with ${keyFile} (another host's key file, or a damaged value): run \`odooops init\` to enter the secret again`,
        );
      }
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...path, String(i)]));
    if (v !== null && typeof v === "object")
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, [...path, k])]));
    return v;
  };
  return walk(data, []) as Record<string, Json>;
}

export function loadConfig(
  paths: Paths,
  opts: { env?: Record<string, string | undefined>; overrides?: Partial<Record<"listen", string>> } = {},
): Config {
  const env = opts.env ?? process.env;
  const file = readFile(paths);
  const data: Record<string, Json> = structuredClone(file?.data ?? {});
  for (const [name, leaf] of envOverrideNames()) {
    const raw = env[name];
    if (raw !== undefined) setPath(data, leaf.path, envValue(name, raw, leaf.kind));
  }
  for (const [k, v] of Object.entries(opts.overrides ?? {})) if (v !== undefined) data[k] = v;
  const parsed = ConfigSchema.safeParse(decryptConfigValues(data, paths.secretKeyFile, file?.source ?? "config"));
  if (!parsed.success) throw new Invalid(formatIssues(file?.source ?? "config", parsed.error));
  // A broken host rules file stops the daemon now, with its own line, not a clone later.
  if (parsed.data.anonymize.rulesFile) readHostRules(parsed.data.anonymize.rulesFile);
  return parsed.data;
}
