/**
 * The odooops systemd unit, rendered from templates/odooops.service.mustache (embedded in the
 * binary). Every value is checked against a strict pattern first and rendered without HTML
 * escaping: a value can never add a line, a second argument to ExecStart, a systemd specifier
 * (`%`) or an environment expansion (`$`).
 */
import Mustache from "mustache";
import unitTemplate from "../../../templates/odooops.service.mustache" with { type: "text" };
import { Invalid } from "../../errors";

export interface UnitSpec {
  /** Absolute path of the odooops executable (install.sh puts it at /usr/local/bin/odooops). */
  binary: string;
  /** ODOOOPS_ROOT for the daemon; omitted (FHS paths) when absent. */
  root?: string;
  /**
   * The daemon's config and data directories (config/paths.ts resolves them; passed in because
   * host/ imports no domain): writable when no root is set.
   */
  dirs: { configDir: string; dataDir: string };
  /** The daemon manages docker, nginx and PostgreSQL: in production this is `root`. */
  user: string;
  /** Primary group of the process; default: the user's own. */
  group?: string;
  /** `host:port` passed as `serve --listen`; default: the config file's `listen`. */
  listen?: string;
  /** More paths the daemon writes outside /var and /run (e.g. a non-default pg_hba.conf dir). */
  readWritePaths?: string[];
}

export const UNIT_NAME = "odooops.service";
export const UNIT_FILE = "/etc/systemd/system/odooops.service";

// No spaces, quotes, `%` or `$`: systemd would split, unquote, expand specifiers or variables.
const PATH = /^\/[A-Za-z0-9._\/+-]*$/;
const NAME = /^[a-z_][a-z0-9_-]{0,31}$/;
const LISTEN = /^[A-Za-z0-9.-]+:(\d{1,5})$/;
/** Parts of /etc the daemon writes (ProtectSystem=full makes /etc read-only). */
const SYSTEM_RW = ["-/etc/nginx", "-/etc/postgresql", "-/var/log/odooops", "-/run/odooops"];

function check(re: RegExp, value: string, what: string): string {
  if (!re.test(value)) throw new Invalid(`systemd unit: invalid ${what}: ${JSON.stringify(value)}`);
  return value;
}

function checkPath(value: string, what: string): string {
  check(PATH, value, what);
  if (value.split("/").some((part) => part === ".."))
    throw new Invalid(`systemd unit: ${what} must not contain "..": ${JSON.stringify(value)}`);
  return value.length > 1 ? value.replace(/\/+$/, "") : value;
}

function checkListen(value: string): string {
  const m = LISTEN.exec(value);
  const port = m ? Number(m[1]) : 0;
  if (!m || port < 1 || port > 65535)
    throw new Invalid(`systemd unit: invalid listen address (host:port): ${JSON.stringify(value)}`);
  return value;
}

/** PrivateTmp would hide a root or binary under /tmp behind an empty private /tmp. */
function underTmp(path: string): boolean {
  return ["/tmp", "/var/tmp"].some((t) => path === t || path.startsWith(`${t}/`));
}

export function renderUnit(spec: UnitSpec): string {
  const binary = checkPath(spec.binary, "binary path");
  const root = spec.root === undefined || spec.root === "" ? undefined : checkPath(spec.root, "root");
  const ownPaths = root ? [root] : [spec.dirs.configDir, spec.dirs.dataDir];
  const extra = (spec.readWritePaths ?? []).map((p) => {
    const optional = p.startsWith("-");
    return (optional ? "-" : "") + checkPath(optional ? p.slice(1) : p, "read-write path");
  });
  const readWritePaths = [...new Set([...ownPaths, ...SYSTEM_RW, ...extra])];
  return Mustache.render(
    unitTemplate,
    {
      binary,
      root,
      user: check(NAME, spec.user, "user"),
      group: spec.group === undefined ? undefined : check(NAME, spec.group, "group"),
      listen: spec.listen === undefined ? undefined : checkListen(spec.listen),
      privateTmp: underTmp(binary) || (root !== undefined && underTmp(root)) ? "no" : "yes",
      readWritePaths: readWritePaths.join(" "),
    },
    {},
    { escape: (s: string) => s },
  );
}
