/**
 * The audit log is a hash chain an attacker with write access to the SQLite file cannot edit
 * unnoticed: `odooops audit verify` (the real CLI against the real API and state file) names the
 * first row where it breaks after a row is UPDATEd or DELETEd through a separate connection.
 */
import { Database } from "bun:sqlite";
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { openState } from "../../src/state/db";
import { runCliOn } from "../support/cli";
import { makeTempDir, removeTempDir } from "../support/tmp";
import { ADMIN_PASSWORD, makeTestApi } from "../support/api";

let t: Awaited<ReturnType<typeof makeTestApi>>;
beforeEach(async () => {
  t = await makeTestApi();
});
afterEach(() => t.cleanup());

const cli = (...argv: string[]) => runCliOn(t, argv);

/** A few real rows through the API: token create + revoke, a failed login, a failed mutating call. */
async function activity(): Promise<void> {
  for (const name of ["a", "b", "c"]) {
    const res = await t.request("/api/v1/auth/tokens", { method: "POST", body: JSON.stringify({ name }) });
    const { id } = (await res.json()) as { id: string };
    expect((await t.request(`/api/v1/auth/tokens/${id}`, { method: "DELETE" })).status).toBe(204);
  }
  expect(
    (
      await t.request("/api/v1/auth/login", {
        method: "POST",
        token: null,
        body: JSON.stringify({ username: "admin", password: "wrong-password" }),
      })
    ).status,
  ).toBe(401);
  expect((await t.request("/api/v1/environments/nope/stop", { method: "POST" })).status).toBe(404);
}

/** The state file opened on its own, as an attacker with write access to it would. */
function tamper(sql: string, ...params: string[]): void {
  const db = new Database(join(t.root, "state", "odooops.db"));
  try {
    db.query(sql).run(...params);
  } finally {
    db.close();
  }
}

function rowsBySeq(): { id: string; seq: number }[] {
  return t.deps.db.$client.query("select id, seq from audit_logs order by seq").all() as { id: string; seq: number }[];
}

describe("upgrade", () => {
  test("rows written before the chain existed are sealed once at the first start, then verify", async () => {
    const root = makeTempDir("odooops-audit-legacy-");
    try {
      const db = openState(join(root, "state", "odooops.db"));
      for (const [i, action] of ["env.create", "deploy", "env.destroy"].entries()) {
        db.$client
          .query("insert into audit_logs (id, at, actor, action, outcome) values (?, ?, 'admin', ?, 'ok')")
          .run(`legacy-${i}`, `2026-01-0${i + 1}T00:00:00.000Z`, action);
      }
      db.$client.close();
      const api = await makeTestApi({ root });
      try {
        const sealed = api.deps.db.$client.query("select id, seq from audit_logs order by seq").all();
        expect(sealed).toEqual([
          { id: "legacy-0", seq: 1 },
          { id: "legacy-1", seq: 2 },
          { id: "legacy-2", seq: 3 },
        ]);
        expect(api.deps.audit.verify()).toMatchObject({ ok: true, rows: 3 });
      } finally {
        api.cleanup();
      }
    } finally {
      removeTempDir(root);
    }
  });
});

describe("audit verify", () => {
  test("an untouched chain verifies (exit 0), with every row sealed", async () => {
    await activity();
    const rows = rowsBySeq();
    expect(rows.length).toBeGreaterThanOrEqual(8);
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    const out = await cli("audit", "verify");
    expect(out.code).toBe(0);
    expect(out.stderr).toStartWith(`audit chain ok: ${rows.length} row(s), head seq ${rows.length} hash `);
    const json = await cli("audit", "verify", "--json");
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, rows: rows.length });
  });

  test("a row edited in the SQLite file is named (exit 1)", async () => {
    await activity();
    const victim = rowsBySeq()[3]!;
    tamper("update audit_logs set actor = 'someone-else' where id = ?", victim.id);
    const out = await cli("audit", "verify");
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(`audit chain broken at row ${victim.id} (seq 4`);
    expect(out.stderr).toContain("modified");
    const json = await cli("audit", "verify", "--json");
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).error.details).toMatchObject({
      ok: false,
      brokenAt: { id: victim.id, seq: 4 },
      rows: 3,
    });
  });

  test("an edit that also recomputes every later hash without the host key is still caught", async () => {
    await activity();
    const victim = rowsBySeq()[2]!;
    // The attacker knows the serialization and rewrites the chain from the edited row on with sha256.
    const db = new Database(join(t.root, "state", "odooops.db"));
    try {
      db.query("update audit_logs set outcome = 'ok', actor = 'nobody' where id = ?").run(victim.id);
      const rows = db.query("select * from audit_logs where seq >= ? order by seq").all(victim.seq) as Record<
        string,
        string | number | null
      >[];
      let prev = (db.query("select hash from audit_logs where seq = ?").get(victim.seq - 1) as { hash: string }).hash;
      for (const r of rows) {
        const canonical = JSON.stringify([
          "odooops-audit-v1",
          r.seq,
          r.id,
          r.at,
          r.actor,
          r.action,
          r.target,
          r.outcome,
          r.ip,
          r.details,
          prev,
        ]);
        const hash = createHash("sha256").update(canonical).digest("hex");
        db.query("update audit_logs set prev_hash = ?, hash = ? where id = ?").run(prev, hash, r.id as string);
        prev = hash;
      }
    } finally {
      db.close();
    }
    const out = await cli("audit", "verify", "--json");
    expect(out.code).toBe(1);
    expect(JSON.parse(out.stdout).error.details).toMatchObject({
      ok: false,
      brokenAt: { id: victim.id, seq: victim.seq },
    });
  });

  test("a row deleted from the middle is detected at the row after it (exit 1)", async () => {
    await activity();
    const rows = rowsBySeq();
    const deleted = rows[4]!;
    const next = rows[5]!;
    tamper("delete from audit_logs where id = ?", deleted.id);
    const out = await cli("audit", "verify");
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(`audit chain broken at row ${next.id} (seq 6`);
    expect(out.stderr).toContain("row(s) 5 before it are missing");
  });

  test("a row inserted around the service (no seal) is named", async () => {
    await activity();
    tamper(
      "insert into audit_logs (id, at, actor, action, outcome) values ('forged-row', '2026-01-01T00:00:00.000Z', 'admin', 'env.destroy', 'ok')",
    );
    const out = await cli("audit", "verify", "--json");
    expect(out.code).toBe(1);
    expect(JSON.parse(out.stdout).error.details).toMatchObject({
      ok: false,
      brokenAt: { id: "forged-row", seq: null },
    });
  });

  test("two processes appending at once never fork the chain", async () => {
    const procs = ["writer-a", "writer-b"].map((who) =>
      Bun.spawn([process.execPath, join(import.meta.dir, "fixtures", "append.ts"), t.root, who, "150"], {
        stdout: "ignore",
        stderr: "pipe",
      }),
    );
    for (let i = 0; i < 50; i++)
      t.deps.audit.record({ actor: "writer-main", action: "test.append", target: String(i) });
    for (const p of procs) {
      const code = await p.exited;
      if (code !== 0) throw new Error(`append.ts exited ${code}: ${await new Response(p.stderr).text()}`);
    }
    const counts = t.deps.db.$client
      .query("select actor, count(*) as n from audit_logs where action = 'test.append' group by actor order by actor")
      .all();
    expect(counts).toEqual([
      { actor: "writer-a", n: 150 },
      { actor: "writer-b", n: 150 },
      { actor: "writer-main", n: 50 },
    ]);
    const out = await cli("audit", "verify", "--json");
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ ok: true });
  });

  test("only admins may verify, read or export the audit log; the refusal is itself audited", async () => {
    await t.deps.auth.createUser("viewer1", ADMIN_PASSWORD, "viewer");
    const { token } = await t.deps.auth.login("viewer1", ADMIN_PASSWORD);
    for (const path of ["/api/v1/audit/verify", "/api/v1/audit/logs", "/api/v1/audit/export"]) {
      expect((await t.request(path, { token })).status).toBe(403);
    }
    const denied = t.deps.audit.list({ filter: "denied", actor: "viewer1" });
    expect(denied.map((r) => r.target).sort()).toEqual([
      "GET /api/v1/audit/export",
      "GET /api/v1/audit/logs",
      "GET /api/v1/audit/verify",
    ]);
    expect(denied.every((r) => r.action === "auth.forbidden")).toBe(true);
  });
});
