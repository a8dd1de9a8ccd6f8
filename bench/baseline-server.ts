/**
 * The floor for the API benchmark: a bare Bun.serve answering every request with a pre-serialized
 * JSON list the size of GET /api/v1/environments with 1,000 envs. What the daemon adds on top of
 * it (routing, auth lookup, SQLite query, validation, serialization) is our cost.
 *
 *   baseline-server <port>      (compiled into a temp dir by bench/api-load.ts)
 */
const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) throw new Error("usage: baseline-server <port>");

const body = JSON.stringify(
  Array.from({ length: 1000 }, (_, i) => {
    const slug = `bench-${String(i).padStart(4, "0")}`;
    return {
      id: Bun.randomUUIDv7(),
      name: slug,
      slug,
      tier: "dev",
      status: "active",
      statusReason: null,
      branch: `feature/${slug}`,
      url: `http://${slug}.dev.odoo.localhost`,
      odooImage: "odoo:17.0",
      createdBy: "admin",
      createdAt: new Date().toISOString(),
    };
  }),
);

Bun.serve({
  hostname: "127.0.0.1",
  port,
  fetch: () => new Response(body, { headers: { "content-type": "application/json" } }),
});
