import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { randomBytes } from "node:crypto";
import { SecretBox } from "../../src/auth/secretbox";
import { ConfigSchema } from "../../src/config/schema";
import { insertEnvironment, planCreate } from "../../src/env/create";
import { type Environment, environments } from "../../src/env/env.sql";
import { requireCreated } from "../../src/env/guards";
import { envUrl, listEnvironments } from "../../src/env/list";
import {
  markActive,
  markCreateFailed,
  markDestroyAborted,
  markDestroyed,
  markDestroying,
  markExpiryWarned,
  markFailed,
  markServedOverHttp,
  markServedOverHttps,
  markStopped,
  noteStatusReason,
  recordCurrentDeployment,
  recordExpiry,
  recordLimits,
  recordServing,
} from "../../src/env/state";
import { CREATED_STATUSES, ENV_STATUSES } from "../../src/env/vocabulary";
import { Conflict } from "../../src/errors";
import { openState, type Db } from "../../src/state/db";

// Real SQLite with the shipped migration (openState applies it), one database per test.
const config = ConfigSchema.parse({ baseDomain: "state.example.test", acme: { email: "ops@example.test" } });
const box = new SecretBox(randomBytes(32));
const opened: Db[] = [];
let db: Db;
let n = 0;

afterAll(() => {
  for (const d of opened) d.$client.close();
});

beforeEach(() => {
  db = openState(":memory:");
  opened.push(db);
});

function newEnv(tier: Environment["tier"] = "production"): Environment {
  n += 1;
  const plan = planCreate(db, config, { name: `shop${n}`, tier }, { cpus: 64, memoryMb: 1_048_576 });
  return insertEnvironment(db, box, plan, "test");
}

function row(id: string): Environment {
  return db.select().from(environments).where(eq(environments.id, id)).get()!;
}

const serving = { containerName: "odooops-shop-r1", httpPort: 41000, longpollPort: 41001, release: 1 };
const FALLBACK = "served over HTTP: HTTPS could not be enabled for shop.example.test: timeout (once fixed: …)";

describe("env state transitions", () => {
  test("create ends active, or active over HTTP with the reason kept in its own column", () => {
    const plain = newEnv();
    expect(markActive(db, plain.id)).toMatchObject({ status: "active", statusReason: null, httpFallbackReason: null });
    expect(envUrl(row(plain.id), config)).toBe(`https://${plain.slug}.state.example.test`);

    const http = newEnv();
    recordServing(db, http.id, serving);
    const after = markServedOverHttp(db, http.id, FALLBACK);
    expect(after).toMatchObject({ status: "active", statusReason: FALLBACK, httpFallbackReason: FALLBACK, ...serving });
    expect(envUrl(after, config)).toBe(`http://${http.slug}.state.example.test`);
    // The API's summary shows the same status reason as before the column existed.
    const listed = listEnvironments(db, config, {}).find((e) => e.slug === http.slug)!;
    expect(listed.statusReason).toBe(FALLBACK);
    expect(listed.url).toBe(`http://${http.slug}.state.example.test`);
  });

  test("the fallback is the column, not a prefix of the status reason", () => {
    const env = newEnv();
    markActive(db, env.id);
    // A reason that merely reads like the fallback (as a prefix match would have taken it) is not one.
    noteStatusReason(db, env.id, "served over HTTP: written by hand");
    expect(row(env.id).httpFallbackReason).toBeNull();
    expect(envUrl(row(env.id), config)).toBe(`https://${env.slug}.state.example.test`);
  });

  test("stop and start keep the HTTP fallback; a served certificate ends it and clears its reason", () => {
    const env = newEnv();
    markServedOverHttp(db, env.id, FALLBACK);
    expect(markStopped(db, env.id)).toMatchObject({
      status: "stopped",
      statusReason: null,
      httpFallbackReason: FALLBACK,
    });
    expect(markActive(db, env.id)).toMatchObject({
      status: "active",
      statusReason: FALLBACK,
      httpFallbackReason: FALLBACK,
    });
    expect(envUrl(row(env.id), config)).toBe(`http://${env.slug}.state.example.test`);

    markServedOverHttp(db, env.id, FALLBACK);
    expect(markServedOverHttps(db, env.id)).toMatchObject({
      status: "active",
      statusReason: null,
      httpFallbackReason: null,
    });
    expect(envUrl(row(env.id), config)).toBe(`https://${env.slug}.state.example.test`);
  });

  test("a served certificate leaves a status reason that is not the fallback's", () => {
    const env = newEnv();
    markServedOverHttp(db, env.id, FALLBACK);
    const stuck = "db.restore failed and could not put the previous database back: it is kept as x_old";
    noteStatusReason(db, env.id, stuck);
    expect(markServedOverHttps(db, env.id)).toMatchObject({ statusReason: stuck, httpFallbackReason: null });
    // Without a fallback it changes nothing but the time of the change.
    const before = row(env.id);
    expect(markServedOverHttps(db, env.id)).toMatchObject({ ...before, updatedAt: expect.any(String) });
  });

  test("a failed create is unpublished; a failed job elsewhere leaves what serves", () => {
    const created = newEnv();
    recordServing(db, created.id, serving);
    expect(markCreateFailed(db, created.id, "database init failed")).toMatchObject({
      status: "failed",
      statusReason: "database init failed",
      httpPort: null,
      longpollPort: null,
      containerName: null,
    });
    const other = newEnv();
    recordServing(db, other.id, serving);
    expect(markFailed(db, other.id, "destroy failed: x (rerun env destroy)")).toMatchObject({
      status: "failed",
      ...serving,
    });
  });

  test("destroy: destroying, then destroyed (kept database said) or back to the status it had", () => {
    const env = newEnv();
    recordServing(db, env.id, serving);
    markServedOverHttp(db, env.id, FALLBACK);
    expect(markDestroying(db, env.id).status).toBe("destroying");
    expect(markDestroyAborted(db, env.id, "active", "destroy aborted: no backup target")).toMatchObject({
      status: "active",
      statusReason: "destroy aborted: no backup target",
    });
    markDestroying(db, env.id);
    const gone = markDestroyed(db, env.id, { keptDatabase: true });
    expect(gone).toMatchObject({
      status: "destroyed",
      statusReason: "destroyed; database kept",
      httpFallbackReason: null,
      httpPort: null,
      longpollPort: null,
      containerName: null,
    });
    expect(gone.destroyedAt).not.toBeNull();
    expect(markDestroyed(db, newEnv().id, { keptDatabase: false }).statusReason).toBeNull();
  });

  test("records: current deployment, limits, expiry and its warning", () => {
    const env = newEnv();
    expect(recordCurrentDeployment(db, env.id, "d-1").currentDeploymentId).toBe("d-1");
    expect(recordCurrentDeployment(db, env.id, null).currentDeploymentId).toBeNull();
    expect(recordLimits(db, env.id, { workers: 1, cpus: 0.5, memoryMb: 512 })).toMatchObject({
      workers: 1,
      cpus: "0.5",
      memoryMb: 512,
    });
    const at = new Date("2030-01-01T00:00:00.000Z");
    expect(markExpiryWarned(db, env.id, at).ttlWarnedAt).toBe(at.toISOString());
    // A new expiry lets the warning go out again.
    expect(recordExpiry(db, env.id, "2030-02-01T00:00:00.000Z")).toMatchObject({
      ttlExpiresAt: "2030-02-01T00:00:00.000Z",
      ttlWarnedAt: null,
    });
  });

  test("a rerun of a failed create starts without the earlier HTTP fallback", () => {
    const env = newEnv();
    markServedOverHttp(db, env.id, FALLBACK);
    markFailed(db, env.id, "destroy failed: x (rerun env destroy)");
    const plan = planCreate(db, config, { name: env.name, tier: env.tier }, { cpus: 64, memoryMb: 1_048_576 });
    expect(plan.retryOf).toBe(env.id);
    expect(insertEnvironment(db, box, plan, "test")).toMatchObject({
      id: env.id,
      status: "creating",
      statusReason: null,
      httpFallbackReason: null,
    });
    expect(markActive(db, env.id).statusReason).toBeNull();
  });

  test("a transition on an env that is not in state throws and writes nothing", () => {
    const env = newEnv();
    const before = row(env.id);
    expect(() => markActive(db, "no-such-env")).toThrow("environment no-such-env vanished from state");
    expect(row(env.id)).toEqual(before);
    expect(db.select().from(environments).all()).toHaveLength(1);
  });
});

describe("env guards", () => {
  test("only active and stopped envs are acted on; the refusal names the status and its reason", () => {
    expect([...CREATED_STATUSES]).toEqual(["active", "stopped"]);
    for (const status of ENV_STATUSES) {
      const env = { slug: "shop", status, statusReason: status === "failed" ? "create cancelled" : null };
      if (status === "active" || status === "stopped") {
        expect(() => requireCreated(env, "it must be active or stopped")).not.toThrow();
        continue;
      }
      const reason = status === "failed" ? " (create cancelled)" : "";
      expect(() => requireCreated(env, "it must be active or stopped", "source environment")).toThrow(
        new Conflict(`source environment shop is ${status}${reason}; it must be active or stopped`),
      );
    }
  });
});
