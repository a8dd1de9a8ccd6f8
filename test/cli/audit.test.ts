/** `odooops audit logs|export` against the real API and state; `--to s3` against a real s3rver. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigSchema } from "../../src/config/schema";
import { openS3 } from "../../src/host/s3";
import { makeTestApi } from "../support/api";
import { runCliOn } from "../support/cli";
import { startS3, type TestS3 } from "../support/s3";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";

let s3: TestS3;
let t: Awaited<ReturnType<typeof makeTestApi>>;
let out = "";
const bucket = `audit-${randomSuffix()}`;

beforeAll(async () => {
  s3 = await startS3();
  const target = await s3.target(bucket, { prefix: "host-a" });
  t = await makeTestApi({ config: ConfigSchema.parse({ backups: { s3: { ...target } } }) });
  out = makeTempDir("odooops-audit-cli-");
  await t.request("/api/v1/auth/login", {
    method: "POST",
    token: null,
    body: JSON.stringify({ username: "admin", password: "wrong-password" }),
  });
  await t.request("/api/v1/auth/tokens", { method: "POST", body: JSON.stringify({ name: "ci" }) });
});
afterAll(async () => {
  t?.cleanup();
  await s3?.destroy();
  removeTempDir(out);
});

const cli = (...argv: string[]) => runCliOn(t, argv);

describe("audit CLI", () => {
  test("logs: newest first, filters by failed_auth / action / actor, a table or --json", async () => {
    const failed = await cli("audit", "logs", "--filter", "failed_auth", "--json");
    expect(failed.code).toBe(0);
    const rows = JSON.parse(failed.stdout) as {
      action: string;
      outcome: string;
      actor: string;
      details: { count: number };
    }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ action: "auth.login", outcome: "denied", actor: "admin", details: { count: 1 } });

    const tokens = JSON.parse(
      (await cli("audit", "logs", "--action", "auth.token", "--since", "1h", "--json")).stdout,
    ) as { action: string }[];
    expect(tokens.map((r) => r.action)).toEqual(["auth.token.create"]);
    expect(JSON.parse((await cli("audit", "logs", "--actor", "nobody", "--json")).stdout)).toEqual([]);

    const table = await cli("audit", "logs");
    expect(table.code).toBe(0);
    expect(table.stdout).toContain("auth.token.create");
    expect(table.stdout.split("\n")[0]).toContain("OUTCOME");
  });

  test("bad flags are usage errors and change nothing", async () => {
    const before = t.deps.audit.list({ limit: 10_000 }).length;
    expect((await cli("audit", "logs", "--filter", "everything")).code).toBe(2);
    const since = await cli("audit", "logs", "--since", "yesterday");
    expect(since.code).toBe(2);
    expect(since.stderr).toContain("use a duration like 30m, 12h, 7d, 2w");
    expect((await cli("audit", "export", "--to", "ftp")).code).toBe(2);
    expect(t.deps.audit.list({ limit: 10_000 }).length).toBe(before);
  });

  test("export: JSON lines oldest first with their chain fields, to stdout or a new file", async () => {
    const res = await cli("audit", "export", "--since", "1d");
    expect(res.code).toBe(0);
    const lines = res.stdout
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { seq: number; hash: string; prev_hash: string });
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.map((l) => l.seq)).toEqual(lines.map((_, i) => i + 1));
    for (let i = 1; i < lines.length; i++) expect(lines[i]!.prev_hash).toBe(lines[i - 1]!.hash);

    const file = join(out, "audit.jsonl");
    expect((await cli("audit", "export", "--output", file)).code).toBe(0);
    expect(readFileSync(file, "utf8")).toBe(res.stdout);
    const again = await cli("audit", "export", "--output", file);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("EEXIST");
  });

  test("export --to s3 uploads the lines to the backup bucket under its prefix, and is itself audited", async () => {
    const res = await cli("audit", "export", "--to", "s3", "--json");
    expect(res.code).toBe(0);
    const up = JSON.parse(res.stdout) as { bucket: string; key: string; rows: number };
    expect(up.bucket).toBe(bucket);
    expect(up.key).toMatch(/^host-a\/audit\/audit-.*\.jsonl$/);
    const store = await openS3(await s3.target(bucket, { prefix: "host-a" }));
    try {
      const text = new TextDecoder().decode(await store.getBytes(up.key));
      expect(text.trimEnd().split("\n")).toHaveLength(up.rows);
    } finally {
      store.close();
    }
    expect(t.deps.audit.list({ action: "audit.export", limit: 1 })[0]).toMatchObject({
      actor: "admin",
      target: `s3://${bucket}/${up.key}`,
    });
  });
});
