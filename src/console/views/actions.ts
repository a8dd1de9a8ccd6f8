/**
 * The environment page's actions as forms: deploy (its own page, the picker), roll back to a
 * release (with the migration guard's choice), restore a backup and copy the database to another
 * env (production asks for its name, as the CLI does). Each posts to a route in routes/actions.ts.
 */
import { html } from "hono/html";
import type { BackupView } from "../../db/schema";
import type { DeployChoices, DeploymentView } from "../../deploy/schema";
import type { EnvDetail, EnvSummary } from "../../env/schema";
import type { RollbackGuard } from "../rollback-guard";
import type { ConsoleSession } from "../session";
import { esc, fragment } from "./escape";
import { ageMarkup, csrfField, csrfMarkup, errorBox, type Html, page } from "./layout";

const short = (sha: string) => sha.slice(0, 10);

/** A production target wants its name typed: the same rule as the CLI's prompt (production-guard.ts). */
function confirmField(env: { slug: string; tier: string }, label: string): string {
  if (env.tier !== "production") return "";
  return `<label>${esc(label)} <input name="confirm" required autocomplete="off"></label>`;
}

export function deployPage(s: ConsoleSession, env: EnvDetail, choices: DeployChoices, error?: string): Html {
  const path = `/envs/${encodeURIComponent(env.slug)}`;
  const body = html`<p><a href="${path}">← ${env.name}</a></p>
<h1>Deploy ${env.name}</h1>
${errorBox(error)}
<section class="card"><form class="stack" method="post" action="${path}/deployments">${csrfField(s)}
<label>What to deploy <select name="ref" required>
<optgroup label="Newest commits on ${choices.branch}">${fragment(
    choices.commits
      .map(
        (c, i) =>
          `<option value="sha:${esc(c.sha)}" ${i === 0 ? "selected" : ""}>${esc(short(c.sha))} ${esc(c.subject)} — ${esc(c.author)}</option>`,
      )
      .join(""),
  )}</optgroup>
<optgroup label="Branch heads">${fragment(
    choices.branches
      .map(
        (b) => `<option value="branch:${esc(b.name)}">${esc(b.name)} (${esc(short(b.sha))} ${esc(b.subject)})</option>`,
      )
      .join(""),
  )}</optgroup>
</select></label>
<button type="submit">Deploy</button>
</form></section>
${
  choices.commits.length === 0
    ? html`<p class="empty">Branch ${choices.branch} has no commit in the repository yet: push it, or pick another branch.</p>`
    : ""
}`;
  return page({ title: `Deploy ${env.name}`, session: s, nav: "envs", body });
}

/** One deployment row's form (a string, as the row is: escape.ts). */
export function rollbackForm(s: ConsoleSession, path: string, d: DeploymentView, guard: RollbackGuard): string {
  const past = guard.migrations.map((r) => `release ${r}`).join(", ");
  const restore = guard.backupId
    ? `<option value="restore">restore backup ${esc(guard.backupId)} (data since is lost)</option>`
    : "";
  const choice = guard.migrations.length
    ? `<label>Database (migrated by ${esc(past)}) <select name="db" required>
${restore}
<option value="keep">keep the newer database (old code on it)</option></select></label>`
    : "";
  return `<form class="row" method="post" action="${esc(path)}/rollback">${csrfMarkup(s)}
<input type="hidden" name="to" value="${esc(d.id)}">
${choice}
<button class="secondary" type="submit">Roll back to this<span class="vh"> (release ${d.release})</span></button></form>`;
}

/** One backup row's form (a string, as the row is: escape.ts). */
export function restoreForm(s: ConsoleSession, path: string, env: EnvDetail, b: BackupView): string {
  return `<form class="row" method="post" action="${esc(path)}/restore">${csrfMarkup(s)}
<input type="hidden" name="backup" value="${esc(b.id)}">
${confirmField(env, `Type ${env.slug} to restore`)}
<button class="secondary" type="submit">Restore<span class="vh"> ${esc(b.id)} (${ageMarkup(b.finishedAt ?? b.createdAt)})</span></button></form>`;
}

/** Copy this env's database (with files) into another env; anonymized by default when leaving production. */
export function copyForm(s: ConsoleSession, path: string, env: EnvDetail, targets: EnvSummary[]): Html {
  if (targets.length === 0) return html`<p class="empty">No other environment to copy to yet.</p>`;
  const production = targets.find((t) => t.tier === "production");
  return html`<form class="inline" method="post" action="${path}/copy">${csrfField(s)}
<label>Copy to <select name="target" required>${fragment(
    targets
      .map((t) => `<option value="${esc(t.slug)}">${esc(t.name)} (${esc(t.tier.replace("_", " "))})</option>`)
      .join(""),
  )}</select></label>
<label>Anonymize <select name="anonymize">
<option value="default">${env.tier === "production" ? "yes, unless the target is production" : "no (the source is not production)"}</option>
<option value="yes">yes</option><option value="no">no</option></select></label>
${production ? html`<label>Target is production? Type its name <input name="confirm" autocomplete="off"></label>` : ""}
<button type="submit">Copy to…</button></form>`;
}
