/** Host names and labels (`--label region=eu`): placement filters on labels. */
import { Invalid } from "../errors";

export type Labels = Record<string, string>;

const KEY = /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/;
const VALUE = /^[A-Za-z0-9._-]{0,63}$/;

export function validLabels(labels: Labels): Labels {
  const entries = Object.entries(labels);
  if (entries.length > 32) throw new Invalid("at most 32 labels per host");
  for (const [k, v] of entries) {
    if (!KEY.test(k)) throw new Invalid(`label key ${JSON.stringify(k)}: lowercase letters, digits, . _ - (≤ 64)`);
    if (!VALUE.test(v)) throw new Invalid(`label ${k}: value ${JSON.stringify(v)}: letters, digits, . _ - (≤ 63)`);
  }
  return { ...labels };
}

/** `["region=eu", "ssd=yes"]` → `{region: "eu", ssd: "yes"}`. */
export function parseLabelArgs(args: string[]): Labels {
  const out: Labels = {};
  for (const a of args) {
    const i = a.indexOf("=");
    if (i <= 0) throw new Invalid(`--label ${JSON.stringify(a)}: expected key=value`);
    out[a.slice(0, i)] = a.slice(i + 1);
  }
  return validLabels(out);
}

const HOST_NAME = /^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/;

export function validHostName(name: string): string {
  if (!HOST_NAME.test(name))
    throw new Invalid(`host name ${JSON.stringify(name)}: lowercase letters, digits, . and - (≤ 63)`);
  return name;
}
