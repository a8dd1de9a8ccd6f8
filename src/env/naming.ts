/**
 * Names users type become slugs used in hostnames, container names, database names and paths:
 * anything that is not plainly safe is rejected, never "cleaned up" into something surprising.
 */
import { Invalid } from "../errors";

const NAME_CHARS = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;
const MAX_SLUG = 63;

/** `feature/crm-reports` → `feature-crm-reports` (DNS label: a-z 0-9 -, ≤ 63 chars). */
export function slugify(name: string): string {
  if (name.length === 0) throw new Invalid("environment name is empty");
  if (name.length > 200)
    throw new Invalid(`environment name is too long (${name.length} chars, max ${MAX_SLUG} after slugging)`);
  if (!NAME_CHARS.test(name) || name.includes("..")) {
    throw new Invalid(
      `invalid environment name ${JSON.stringify(name)}: use ASCII letters, digits and . _ / - (starting with a letter or digit, no "..")`,
    );
  }
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  if (slug.length === 0) throw new Invalid(`environment name ${JSON.stringify(name)} has no letters or digits`);
  if (slug.length > MAX_SLUG)
    throw new Invalid(`environment name ${JSON.stringify(name)} gives a slug of ${slug.length} chars; max ${MAX_SLUG}`);
  return slug;
}

/** Git branch names, by the rules of `git check-ref-format --branch` plus a safe alphabet. */
export function validateBranch(branch: string): string {
  const bad =
    branch.length === 0 ||
    branch.length > 200 ||
    !/^[A-Za-z0-9._/+-]+$/.test(branch) ||
    branch.startsWith("-") ||
    branch.startsWith("/") ||
    branch.endsWith("/") ||
    branch.endsWith(".") ||
    branch.endsWith(".lock") ||
    branch.includes("..") ||
    branch.includes("//") ||
    branch.split("/").some((part) => part.startsWith("."));
  if (bad) throw new Invalid(`invalid branch ${JSON.stringify(branch)}: not a valid git branch name`);
  return branch;
}

/** PostgreSQL database and role name for an env: `odoo_<slug>` with a hash when too long. */
export function dbIdentifier(slug: string): string {
  const base = `odoo_${slug.replace(/-/g, "_")}`;
  if (base.length <= 63) return base;
  const hash = new Bun.CryptoHasher("sha256").update(slug).digest("hex").slice(0, 8);
  return `${base.slice(0, 54)}_${hash}`;
}

/**
 * `<slug>.<subdomain>.<baseDomain>`, without repeating the subdomain when the env is named after
 * it: env `staging` of a tier on `staging` is `staging.<baseDomain>`, not `staging.staging.…`.
 */
export function defaultDomain(slug: string, subdomain: string, baseDomain: string): string {
  const labels = slug === subdomain ? [slug, baseDomain] : [slug, subdomain, baseDomain];
  return validateDomain(labels.filter(Boolean).join("."));
}

export function validateDomain(domain: string): string {
  const ok =
    domain.length <= 253 &&
    /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/.test(domain);
  if (!ok) throw new Invalid(`invalid domain ${JSON.stringify(domain)}: lowercase DNS name like shop.example.com`);
  return domain;
}
