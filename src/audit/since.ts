/** `--since 7d` / `12h` / `30m` / an ISO date or timestamp → an ISO timestamp (UTC). */
import { Invalid } from "../errors";

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export function parseSince(value: string, now = Date.now()): string {
  const rel = /^(\d{1,6})([mhdw])$/.exec(value);
  if (rel) return new Date(now - Number(rel[1]) * UNIT_MS[rel[2]!]!).toISOString();
  const t = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+Z?)?$/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(t))
    throw new Invalid(
      `invalid time ${JSON.stringify(value)}: use a duration like 30m, 12h, 7d, 2w or a date like 2026-12-01`,
    );
  return new Date(t).toISOString();
}
