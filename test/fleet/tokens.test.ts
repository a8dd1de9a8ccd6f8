import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { joinTokens } from "../../src/fleet/fleet.sql";
import { decodeJoinToken, encodeJoinToken, newJoinSecret } from "../../src/fleet/join-token";
import { parseLabelArgs } from "../../src/fleet/labels";
import { createJoinToken, parseJoinTtl, spendJoinToken } from "../../src/fleet/tokens";
import { openState } from "../../src/state/db";

const root = mkdtempSync(join(tmpdir(), "odooops-fleet-tokens-"));
const db = openState(join(root, "state.db"));
afterAll(() => {
  db.$client.close();
  rmSync(root, { recursive: true, force: true });
});
const forge = (payload: unknown) => `odj_${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
const endpoint = { url: "https://10.0.0.2:8421", fingerprint: Array(32).fill("AB").join(":") };

describe("join token text", () => {
  test("round-trips URL, fingerprint and secret", () => {
    const secret = newJoinSecret();
    const token = encodeJoinToken({ ...endpoint, secret });
    expect(token.startsWith("odj_")).toBe(true);
    expect(decodeJoinToken(token)).toEqual({ ...endpoint, secret });
  });

  test.each([
    ["a user API token", "odo_abc"],
    ["not base64 JSON", "odj_!!!"],
    ["plain http", forge({ u: "http://x:1", f: endpoint.fingerprint, s: "a".repeat(43) })],
    ["a bad pin", forge({ u: endpoint.url, f: "AB", s: "a".repeat(43) })],
    ["extra keys", forge({ u: endpoint.url, f: endpoint.fingerprint, s: "a".repeat(43), x: 1 })],
  ])("refuses %s", (_what, token) => {
    expect(() => decodeJoinToken(token)).toThrow(/not an odooops join token/);
  });
});

describe("ttl and labels", () => {
  test("durations", () => {
    expect(parseJoinTtl("15m")).toBe(900_000);
    expect(parseJoinTtl("90s")).toBe(90_000);
    expect(parseJoinTtl("2h")).toBe(7_200_000);
    for (const bad of ["15", "0m", "30s", "25h", "1d", "-5m", "15m;x"]) expect(() => parseJoinTtl(bad)).toThrow();
  });

  test("labels", () => {
    expect(parseLabelArgs(["region=eu", "disk=ssd"])).toEqual({ region: "eu", disk: "ssd" });
    for (const bad of ["region", "=eu", "Region=eu", "a=b c", "a=$(x)"]) expect(() => parseLabelArgs([bad])).toThrow();
  });
});

describe("create and spend", () => {
  test("stores only the secret's hash, 15 min by default, single use", () => {
    const before = Date.now();
    const t = createJoinToken({ db, endpoint }, { name: "agent-1", labels: { region: "eu" } });
    const row = db.select().from(joinTokens).where(eq(joinTokens.id, t.id)).get();
    const { secret } = decodeJoinToken(t.token);
    expect(row?.secretHash).not.toContain(secret);
    expect(JSON.stringify(row)).not.toContain(secret);
    const ttl = Date.parse(t.expiresAt) - before;
    expect(ttl).toBeGreaterThan(14 * 60_000);
    expect(ttl).toBeLessThanOrEqual(15 * 60_000 + 1000);
    expect(t.joinUrl).toBe(endpoint.url);

    const spent = spendJoinToken(db, t.token);
    expect(spent.name).toBe("agent-1");
    expect(spent.labels).toEqual({ region: "eu" });
    expect(() => spendJoinToken(db, t.token)).toThrow(/already used/);
  });

  test("expired and unknown tokens are refused and nothing is spent", () => {
    const t = createJoinToken({ db, endpoint }, { ttlMs: 60_000 });
    expect(() => spendJoinToken(db, t.token, new Date(Date.now() + 61_000))).toThrow(/expired/);
    expect(db.select().from(joinTokens).where(eq(joinTokens.id, t.id)).get()?.usedAt).toBeNull();
    const forged = encodeJoinToken({ ...endpoint, secret: newJoinSecret() });
    expect(() => spendJoinToken(db, forged)).toThrow(/unknown join token/);
  });

  test("a host without an agent listener cannot make tokens; TTL bounds hold", () => {
    expect(() => createJoinToken({ db, endpoint: null })).toThrow(/role: coordinator/);
    expect(() => createJoinToken({ db, endpoint }, { ttlMs: 1000 })).toThrow(/between 1 minute and 24 hours/);
  });
});
