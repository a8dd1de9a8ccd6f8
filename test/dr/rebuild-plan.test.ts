/** The pure parts of `dr rebuild`: order, where a backup and an image come from, the plan's lines. */
import { describe, expect, test } from "bun:test";
import { ConfigSchema } from "../../src/config/schema";
import { planLines } from "../../src/cli/commands/dr";
import type { Tier } from "../../src/env/vocabulary";
import { stagingDbName } from "../../src/dr/rebuild-job";
import { type BackupRow, imagePlan, rebuildOrder, rebuildSource } from "../../src/dr/rebuild-plan";

const s3 = {
  endpoint: "http://127.0.0.1:9",
  region: "us-east-1",
  bucket: "bucket-rb",
  prefix: "odooops/",
  accessKeyId: "k",
  secretAccessKey: "s",
  forcePathStyle: true,
};

const config = (extra: Record<string, unknown> = {}) => ConfigSchema.parse(extra);

const row = (over: Partial<BackupRow>): BackupRow =>
  ({
    id: "b1",
    envId: "e1",
    kind: "manual",
    status: "completed",
    dbName: "db",
    localPath: null,
    s3Key: null,
    createdAt: "2026-01-01T00:00:00.000Z",
    ...over,
  }) as BackupRow;

describe("rebuildOrder", () => {
  test("production first, then staging, dev, ephemeral; by slug within a tier", () => {
    const envs: { slug: string; tier: Tier }[] = [
      { slug: "d", tier: "dev" },
      { slug: "e", tier: "dev_ephemeral" },
      { slug: "p2", tier: "production" },
      { slug: "s", tier: "staging" },
      { slug: "p1", tier: "production" },
    ];
    expect(rebuildOrder(envs).map((e) => e.slug)).toEqual(["p1", "p2", "s", "d", "e"]);
  });
});

describe("rebuildSource", () => {
  test("the local copy only while its directory exists on this host", () => {
    const r = row({ localPath: "/old/host/backups/x/b1", s3Key: "odooops/x/b1/" });
    expect(rebuildSource(config(), r, () => true)).toEqual({ kind: "local", dir: "/old/host/backups/x/b1" });
    expect(rebuildSource(config(), r, () => false)).toBeNull();
    const withS3 = config({ backups: { s3 } });
    expect(rebuildSource(withS3, r, () => false)).toMatchObject({ kind: "s3", prefix: "odooops/x/b1/" });
  });

  test("no copy left: null", () => {
    expect(rebuildSource(config({ backups: { s3 } }), row({}), () => true)).toBeNull();
  });
});

describe("imagePlan", () => {
  const release = { image: "odooops/shop:r3-abc", release: true, commit: "abcdef0123456789" };
  const base = { image: "odoo:17.0", release: false, commit: null };

  test("present locally: used as is", () => {
    expect(imagePlan(config(), release, true)).toEqual({ from: "local", pull: null });
  });

  test("a plain Odoo image is pulled by its own name", () => {
    expect(imagePlan(config(), base, false)).toEqual({ from: "pull", pull: "odoo:17.0" });
  });

  test("a release image comes from deploy.registry", () => {
    expect(imagePlan(config({ deploy: { registry: "registry.example.com/acme" } }), release, false)).toEqual({
      from: "registry",
      pull: "registry.example.com/acme/odooops/shop:r3-abc",
    });
  });

  test("a release image with no registry is built again from its deployed commit", () => {
    expect(imagePlan(config(), release, false)).toEqual({ from: "build", pull: null });
  });

  test("a release image with neither registry nor commit is refused, naming the image", () => {
    const p = imagePlan(config(), { ...release, commit: null }, false);
    expect(p.from).toBeNull();
    if (p.from !== null) throw new Error("unreachable");
    expect(p.reason).toContain("release image odooops/shop:r3-abc is not on this host");
    expect(p.reason).toContain("deploy.registry");
  });
});

describe("plan lines", () => {
  test("one line per env: backup, age, source and image, or the refusal", () => {
    expect(
      planLines([
        {
          env: "shop",
          tier: "production",
          status: "active",
          backup: { id: "b9", createdAt: "x", ageSeconds: 7200, from: "s3" },
          image: { ref: "odoo:17.0", from: "local" },
          refused: null,
        },
        {
          env: "dev1",
          tier: "dev",
          status: "active",
          backup: null,
          image: { ref: "odoo:17.0", from: "pull" },
          refused: "no completed backup of dev1",
        },
      ]),
    ).toEqual([
      "shop [production]: backup b9 (2h00m old, s3), image odoo:17.0 (local)",
      "dev1 [dev]: REFUSED: no completed backup of dev1",
    ]);
  });

  test("the staging database name stays a valid identifier for the longest env database names", () => {
    expect(stagingDbName("shop")).toBe("shop_dr_rebuild");
    expect(stagingDbName("x".repeat(63)).length).toBeLessThanOrEqual(63);
  });
});
