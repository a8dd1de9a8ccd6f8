/** Hosts (fleet): status, inventory, envs; admins drain and resume placements. */
import { ApiError } from "../api-call";
import { asUser, type ConsoleApp, type ConsoleDeps, sessionOf } from "../context";
import { type HostView, hostsPage } from "../views/hosts";

export function hostRoutes(app: ConsoleApp, cd: ConsoleDeps) {
  app.get("/hosts", async (c) => c.html(hostsPage(sessionOf(c), await asUser<HostView[]>(cd, c, "GET", "/hosts"))));

  app.post("/hosts/:name/draining", async (c) => {
    const form = await c.req.parseBody();
    try {
      await asUser(cd, c, "PUT", `/hosts/${encodeURIComponent(c.req.param("name"))}/draining`, {
        draining: form.draining === "true",
      });
      return c.redirect("/hosts", 303);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      const hosts = await asUser<HostView[]>(cd, c, "GET", "/hosts");
      return c.html(hostsPage(sessionOf(c), hosts, e.message), e.status as 400 | 403 | 404);
    }
  });
}
