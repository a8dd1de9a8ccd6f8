/**
 * Certificate domain names. A domain is also a directory name under certsDir, so the pattern is
 * strict (lowercase LDH labels, at least two): no `..`, no `/`, no `_` — names starting with `_`
 * are free for the store's own bookkeeping directories.
 */
import { Invalid } from "../errors";

const LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const DOMAIN = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})+$`);

export function isDomain(name: string): boolean {
  return DOMAIN.test(name);
}

export function assertDomain(name: string): string {
  if (!isDomain(name)) {
    throw new Invalid(
      `not a valid domain name for a certificate: ${JSON.stringify(name)} (lowercase, e.g. shop.example.com; wildcards need a bring-your-own certificate)`,
    );
  }
  return name;
}

/** RFC 6125 matching: exact, or a `*.` SAN covering exactly one leftmost label. */
export function sanCovers(sans: readonly string[], domain: string): boolean {
  const d = domain.toLowerCase();
  return sans.some((raw) => {
    const san = raw.toLowerCase();
    if (san === d) return true;
    if (!san.startsWith("*.")) return false;
    const dot = d.indexOf(".");
    return dot > 0 && d.slice(dot + 1) === san.slice(2);
  });
}
