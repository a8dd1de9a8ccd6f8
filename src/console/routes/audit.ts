/** The audit log, filterable: the API's GET /audit/logs (admins only, like `odooops audit`). */
import { z } from "zod";
import { ApiError } from "../api-call";
import { asUser, type ConsoleApp, type ConsoleDeps, sessionOf } from "../context";
import { type AuditRowView, auditPage } from "../views/audit";

const Filter = z.object({
  actor: z.string().max(64).optional(),
  action: z.string().max(64).optional(),
  since: z.string().max(40).optional(),
  filter: z.string().max(20).optional(),
});

export function auditRoutes(app: ConsoleApp, cd: ConsoleDeps) {
  app.get("/audit", async (c) => {
    const parsed = Filter.safeParse(c.req.query());
    const f = parsed.success ? parsed.data : {};
    const q = new URLSearchParams({ limit: "200" });
    for (const [k, v] of Object.entries(f)) if (v) q.set(k, v);
    try {
      return c.html(auditPage(sessionOf(c), await asUser<AuditRowView[]>(cd, c, "GET", `/audit/logs?${q}`), f));
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      return c.html(auditPage(sessionOf(c), [], f, e.message), e.status as 400 | 403);
    }
  });
}
