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
import { age, csrfField, errorBox, type Html, page } from "./layout";

const short = (sha: string) => sha.slice(0, 10);

/** A production target wants its name typed: the same rule as the CLI's prompt (production-guard.ts). */
function confirmField(env: { slug: string; tier: string }, label: string): Html {
  if (env.tier !== "production") return html``;
  return html`<label>${label} <input name="confirm" required autocomplete="off"></label>`;
}

export function deployPage(s: ConsoleSession, env: EnvDetail, choices: DeployChoices, error?: string): Html {
  const path = `/envs/${encodeURIComponent(env.slug)}`;
  const body = html`<p><a href="${path}">← ${env.name}</a></p>
<h1>Deploy ${env.name}</h1>
${errorBox(error)}
<section class="card"><form class="stack" method="post" action="${path}/deployments">${csrfField(s)}
<label>What to deploy <select name="ref" required>
<optgroup label="Newest commits on ${choices.branch}">${choices.commits.map(
    (c, i) =>
      html`<option value="sha:${c.sha}" ${i === 0 ? "selected" : ""}>${short(c.sha)} ${c.subject} — ${c.author}</option>`,
  )}</optgroup>
<optgroup label="Branch heads">${choices.branches.map(
    (b) => html`<option value="branch:${b.name}">${b.name} (${short(b.sha)} ${b.subject})</option>`,
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

export function rollbackForm(s: ConsoleSession, path: string, d: DeploymentView, guard: RollbackGuard): Html {
  const past = guard.migrations.map((r) => `release ${r}`).join(", ");
  return html`<form class="row" method="post" action="${path}/rollback">${csrfField(s)}
<input type="hidden" name="to" value="${d.id}">
${
  guard.migrations.length
    ? html`<label>Database (migrated by ${past}) <select name="db" required>
${guard.backupId ? html`<option value="restore">restore backup ${guard.backupId} (data since is lost)</option>` : ""}
<option value="keep">keep the newer database (old code on it)</option></select></label>`
    : ""
}
<button class="secondary" type="submit">Roll back to this<span class="vh"> (release ${d.release})</span></button></form>`;
}

export function restoreForm(s: ConsoleSession, path: string, env: EnvDetail, b: BackupView): Html {
  return html`<form class="row" method="post" action="${path}/restore">${csrfField(s)}
<input type="hidden" name="backup" value="${b.id}">
${confirmField(env, `Type ${env.slug} to restore`)}
<button class="secondary" type="submit">Restore<span class="vh"> ${b.id} (${age(b.finishedAt ?? b.createdAt)})</span></button></form>`;
}

/** Copy this env's database (with files) into another env; anonymized by default when leaving production. */
export function copyForm(s: ConsoleSession, path: string, env: EnvDetail, targets: EnvSummary[]): Html {
  if (targets.length === 0) return html`<p class="empty">No other environment to copy to yet.</p>`;
  const production = targets.find((t) => t.tier === "production");
  return html`<form class="inline" method="post" action="${path}/copy">${csrfField(s)}
<label>Copy to <select name="target" required>${targets.map(
    (t) => html`<option value="${t.slug}">${t.name} (${t.tier.replace("_", " ")})</option>`,
  )}</select></label>
<label>Anonymize <select name="anonymize">
<option value="default">${env.tier === "production" ? "yes, unless the target is production" : "no (the source is not production)"}</option>
<option value="yes">yes</option><option value="no">no</option></select></label>
${production ? html`<label>Target is production? Type its name <input name="confirm" autocomplete="off"></label>` : ""}
<button type="submit">Copy to…</button></form>`;
}
