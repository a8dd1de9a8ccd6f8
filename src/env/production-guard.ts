/**
 * The server-side confirmation of what cannot be undone on production (destroy, restore, clone
 * into, import): the caller names the env again — the CLI does after its prompt or --yes — so a
 * script or a mistyped name aimed at the wrong env stops here, whoever the caller is.
 */
import { Invalid } from "../errors";

export function requireConfirm(env: { slug: string; tier: string }, confirm: string | undefined, what: string): void {
  if (env.tier !== "production" || confirm === env.slug) return;
  const got = confirm ? ` (got ${JSON.stringify(confirm)})` : "";
  throw new Invalid(
    `refusing to ${what} production environment ${env.slug} without confirm=${env.slug}${got}: the CLI sends it once you typed the name or passed --yes`,
  );
}
