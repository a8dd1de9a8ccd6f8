import { html } from "hono/html";
import { CSRF_FIELD } from "../security";
import { errorBox, type Html, page } from "./layout";

export function loginPage(nonce: string, error?: string, username = ""): Html {
  return page({
    title: "Log in",
    session: null,
    body: html`<section class="card login">
<h1>Log in to odooops</h1>
${errorBox(error)}
<form class="stack" method="post" action="/login">
<input type="hidden" name="${CSRF_FIELD}" value="${nonce}">
<label>Username <input name="username" autocomplete="username" required value="${username}"></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Log in</button>
</form>
<p class="muted">The same users and roles as <code>odooops auth login</code>.</p>
</section>`,
  });
}
