/**
 * One repository has several URLs (`https://github.com/o/r.git`, `git@github.com:o/r.git`,
 * `ssh://git@github.com/o/r`): all reduce to `github.com/o/r` so a webhook finds its project
 * whichever form the project was set up with.
 */
export function repoKey(url: string): string | null {
  const scp = /^[^@/:]+@([^/:]+):(.+)$/.exec(url);
  let host: string;
  let path: string;
  if (scp) {
    host = scp[1];
    path = scp[2];
  } else {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return null;
    }
    if (parsed.protocol === "file:") return null;
    host = parsed.hostname;
    path = parsed.pathname;
  }
  const clean = path.replace(/^\/+|\/+$/g, "").replace(/\.git$/, "");
  return clean ? `${host.toLowerCase()}/${clean.toLowerCase()}` : null;
}
