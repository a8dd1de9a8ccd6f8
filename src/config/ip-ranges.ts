/** IP addresses and CIDR ranges from the config (trusted proxies), matched with node's BlockList. */
import { BlockList, isIP } from "node:net";

function parse(entry: string): { address: string; prefix: number | null; family: "ipv4" | "ipv6" } | null {
  const [address = "", prefixText, extra] = entry.split("/");
  const v = isIP(address);
  if (v === 0 || extra !== undefined) return null;
  const family = v === 4 ? "ipv4" : "ipv6";
  if (prefixText === undefined) return { address, prefix: null, family };
  if (!/^\d{1,3}$/.test(prefixText)) return null;
  const prefix = Number(prefixText);
  return prefix <= (v === 4 ? 32 : 128) ? { address, prefix, family } : null;
}

export function isIpOrCidr(entry: string): boolean {
  return parse(entry) !== null;
}

/** IPv4-mapped IPv6 (`::ffff:1.2.3.4`, what a dual-stack socket reports) as plain IPv4. */
export function normalizeIp(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

/** A predicate over addresses: true when one of `entries` (validated by isIpOrCidr) covers it. */
export function ipMatcher(entries: string[]): (address: string) => boolean {
  if (entries.length === 0) return () => false;
  const list = new BlockList();
  for (const e of entries) {
    const p = parse(e);
    if (!p) continue;
    if (p.prefix === null) list.addAddress(normalizeIp(p.address), p.family);
    else list.addSubnet(p.address, p.prefix, p.family);
  }
  return (address) => {
    const a = normalizeIp(address);
    const v = isIP(a);
    return v !== 0 && list.check(a, v === 4 ? "ipv4" : "ipv6");
  };
}
