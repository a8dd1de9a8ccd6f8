/**
 * Text that leaves the host for GitHub (commit statuses, PR comments) is read by everyone who can
 * see the repository, forks' authors included. It carries only an error's headline — its first
 * line up to the first `: `, where the details (command output, file excerpts, values) begin —
 * with secrets masked, host paths replaced and a length cap; the full error stays in the job log
 * behind the API, which the status and the comment link to.
 */
import { Secrets } from "../log";

/** GitHub refuses a status description above 140 characters. */
export const STATUS_DESCRIPTION_MAX = 140;
/** GitHub's limit is 65,536; a preview comment never needs more than a few lines. */
export const COMMENT_MAX = 8_000;
/** One error line in a comment: enough to say what broke, too short to carry a file. */
export const DETAIL_MAX = 300;

/** An absolute host path (not the path part of a URL): `/etc/odooops/key`, `/var/lib/odooops/…`. */
const HOST_PATH = /(?<![\w:/.~-])\/[^\s'"`()[\]{}<>,;]+/g;

/** Cut to `max` characters, marking the cut. */
export function capText(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Secrets masked and the length capped: the last step before anything is sent to GitHub. */
export function publishable(text: string, max: number): string {
  return capText(Secrets.redact(text), max);
}

/** An error's headline as GitHub may show it: secrets and host paths masked, capped. */
export function publicDetail(error: string, max = DETAIL_MAX): string {
  const first = error.split("\n").find((l) => l.trim() !== "") ?? "";
  const headline = first.split(/:\s/)[0] ?? "";
  const masked = Secrets.redact(headline).replace(HOST_PATH, "<path>").replace(/\s+/g, " ").trim();
  return capText(masked, max);
}
