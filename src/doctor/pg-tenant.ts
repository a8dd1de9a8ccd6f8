/**
 * Whether the daemon can log in as an env's own role where it opens tenant sessions
 * (host/postgres/tenant.ts): the first pg_hba rule a generic env role and database would hit
 * from that address must ask for a password. Debian's `local all all peer` (sockets) and a
 * loopback `reject` are what breaks it.
 */
import { tenantHost } from "../host/postgres/tenant";
import { type Check, fail, pass, skip, warn } from "./check";
import type { HbaRule } from "../host/postgres";

const PASSWORD_AUTH = new Set(["scram-sha-256", "md5", "password"]);

function ipv4(a: string): number | null {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  return m ? m.slice(1).reduce((n, o) => n * 256 + Number(o), 0) : null;
}

function covers(rule: HbaRule, ip: string): boolean {
  if (rule.address === "all") return true;
  const [a, m, x] = [ipv4(rule.address ?? ""), ipv4(rule.netmask ?? ""), ipv4(ip)];
  if (a !== null && m !== null && x !== null) return ((a ^ x) & m) >>> 0 === 0;
  return rule.address === ip;
}

/**
 * The first rule an env role (any name) connecting to its own database (any name) from `host`
 * hits: a socket directory (`local`) or a literal address (plain TCP, no TLS). Rules naming
 * particular databases or users are skipped: they do not cover every env.
 */
export function tenantHbaRule(rules: HbaRule[], host: string): HbaRule | null {
  const socket = host.startsWith("/");
  for (const r of rules) {
    if (!r.databases.includes("all") || !r.users.includes("all")) continue;
    if (socket ? r.type !== "local" : r.type !== "host" && r.type !== "hostnossl") continue;
    if (!socket && !covers(r, host)) continue;
    return r;
  }
  return null;
}

export const pgTenantCheck: Check = {
  id: "pg-tenant",
  title: "odooops can log in as the environments' own roles",
  async run(ctx) {
    if (!ctx.config) return skip("config invalid");
    const host = tenantHost(ctx.config.postgres);
    const p = await ctx.postgres();
    if (!p.ok) return skip("PostgreSQL not reachable (see the postgres check)");
    if (p.hbaRules === null) return skip(`${ctx.config.postgres.user} may not read pg_hba_file_rules`);
    if (!host.startsWith("/") && ipv4(host) === null && host !== "::1")
      return skip(`postgres.tenantHost ${host} is a name: cannot tell which pg_hba rule applies`);
    const rule = tenantHbaRule(p.hbaRules, host);
    const hint = host.startsWith("/")
      ? `set postgres.tenantHost: 127.0.0.1 (with a line host all all 127.0.0.1/32 scram-sha-256), or add local all all scram-sha-256 before line ${rule?.line ?? "?"}`
      : `add host all all ${host}/32 scram-sha-256 to pg_hba.conf before ${rule ? `line ${rule.line}` : "the end"} and reload PostgreSQL`;
    if (!rule)
      return fail(
        `no pg_hba rule lets env roles log in from ${host}: backups, deploys and clones read env databases as the env's own role`,
        hint,
      );
    if (rule.auth === "trust")
      return warn(`pg_hba line ${rule.line} trusts every role from ${host} (no password)`, hint);
    if (!PASSWORD_AUTH.has(rule.auth))
      return fail(
        `pg_hba line ${rule.line} gives env roles "${rule.auth}" from ${host}: they cannot log in there`,
        hint,
      );
    return pass(`env roles log in from ${host} with ${rule.auth} (pg_hba line ${rule.line})`);
  },
};
