/**
 * An exported commit is tenant input: `git archive | tar -x` keeps its symbolic links, and
 * everything that reads the tree afterwards (manifests, the Dockerfile, .dockerignore, docker's
 * build context) runs as root. A link that resolves outside the tree — absolute, `../..`, or
 * through other links — would let a commit read any host file, so such a tree is refused whole.
 * Links that stay inside (OCA's `setup/` layout) are fine.
 */
import { lstatSync, readdirSync, realpathSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { Invalid } from "../errors";

/** Throws Invalid naming the first link (by its path in the tree, never its target's content). */
export function assertLinksStayInside(root: string, label: string): void {
  const top = realpathSync(root);
  const inside = (p: string) => p === top || p.startsWith(`${top}${sep}`);
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isSymbolicLink()) {
        let target: string | null;
        try {
          // The kernel's resolution, links within links included; the tree is ours until removed.
          target = realpathSync(path);
        } catch {
          target = null;
        }
        if (target === null || !inside(target)) {
          throw new Invalid(
            `${label}: ${relative(root, path)} is a symbolic link to ${target === null ? "nothing" : "a path outside the repository"}; links must point inside the repository`,
          );
        }
      }
    }
  };
  if (!lstatSync(root).isDirectory()) throw new Invalid(`${label}: not a directory`);
  walk(root);
}
