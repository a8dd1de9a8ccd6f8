/**
 * The pg_hba block odooops owns, as pure text functions. Everything outside the marked block is
 * the admin's and is kept byte for byte; the block itself holds one line per env database.
 * A new block is appended, so the admin's earlier lines (e.g. `reject`) still win; an existing
 * block stays where the admin moved it.
 */
import { Invalid } from "../../errors";
import { assertIdent } from "./quote";

export const HBA_BEGIN = "# BEGIN odooops (managed, do not edit)";
export const HBA_END = "# END odooops";

export interface HbaEntry {
  db: string;
  role: string;
  /** e.g. 172.16.0.0/12 */
  cidr: string;
  /**
   * More databases the role may reach on the same line, e.g. ["postgres"]: Odoo opens the
   * `postgres` database for `/web/health?db_server_status=1` and the database list.
   */
  extraDbs?: string[];
  /** More roles on the same line: a login alias of `role` while its password is rotated. */
  extraRoles?: string[];
}

const IPV4_CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/([0-9]|[12]\d|3[0-2])$/;
const IPV6_CIDR = /^[0-9a-f:]+\/([0-9]|[1-9]\d|1[01]\d|12[0-8])$/i;
const LINE = /^host\s+(\S+)\s+(\S+)\s+(\S+)\s+scram-sha-256$/;

export function assertCidr(cidr: string): string {
  if (!IPV4_CIDR.test(cidr) && !(IPV6_CIDR.test(cidr) && cidr.includes(":"))) {
    throw new Invalid(`invalid CIDR ${JSON.stringify(cidr)}`);
  }
  return cidr;
}

export function hbaLine(e: HbaEntry): string {
  const dbs = [e.db, ...(e.extraDbs ?? []).filter((d) => d !== e.db)].map((d) => assertIdent(d, "database"));
  const roles = [e.role, ...(e.extraRoles ?? []).filter((r) => r !== e.role)].map((r) => assertIdent(r, "role"));
  return `host ${dbs.join(",")} ${roles.join(",")} ${assertCidr(e.cidr)} scram-sha-256`;
}

interface Split {
  before: string[];
  entries: HbaEntry[];
  after: string[];
  found: boolean;
}

function split(text: string): Split {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const begin = lines.findIndex((l) => l.trim() === HBA_BEGIN);
  const end = lines.findIndex((l) => l.trim() === HBA_END);
  if (begin < 0 && end < 0) return { before: lines, entries: [], after: [], found: false };
  if (begin < 0 || end < begin || lines.filter((l) => l.trim() === HBA_BEGIN).length > 1) {
    throw new Invalid("pg_hba: the odooops block markers are damaged; fix the file by hand");
  }
  const entries = lines.slice(begin + 1, end).flatMap((raw, i) => {
    const l = raw.trim();
    if (l === "" || l.startsWith("#")) return [];
    const m = LINE.exec(l);
    // A line we did not write inside our block: refuse rather than silently drop it.
    if (!m) throw new Invalid(`pg_hba: unexpected line in the odooops block (line ${begin + i + 2}): ${l}`);
    const [db, ...extraDbs] = m[1].split(",");
    const [role, ...extraRoles] = m[2].split(",");
    return [
      {
        db,
        role,
        cidr: m[3],
        ...(extraDbs.length > 0 ? { extraDbs } : {}),
        ...(extraRoles.length > 0 ? { extraRoles } : {}),
      },
    ];
  });
  return { before: lines.slice(0, begin), entries, after: lines.slice(end + 1), found: true };
}

/** The entries currently in the block. */
export function readHbaEntries(text: string): HbaEntry[] {
  return split(text).entries;
}

function render(s: Split, entries: HbaEntry[]): string {
  const sorted = [...entries].sort((a, b) => (a.db < b.db ? -1 : a.db > b.db ? 1 : 0));
  const block = sorted.length === 0 ? [] : [HBA_BEGIN, ...sorted.map(hbaLine), HBA_END];
  const out = [...s.before, ...block, ...s.after];
  return out.length === 0 ? "" : `${out.join("\n")}\n`;
}

/** Adds or replaces the line for `entry.db`. */
export function upsertHbaEntry(text: string, entry: HbaEntry): string {
  hbaLine(entry);
  const s = split(text);
  return render(s, [...s.entries.filter((e) => e.db !== entry.db), entry]);
}

/** Removes the line for `db`; the block disappears with its last line. */
export function removeHbaEntryText(text: string, db: string): string {
  const s = split(text);
  return render(
    s,
    s.entries.filter((e) => e.db !== db),
  );
}
