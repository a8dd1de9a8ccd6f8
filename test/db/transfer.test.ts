/**
 * The cross-host restore's pure parts: when a backup needs the S3 transfer path, the relay
 * through the coordinator for a backup with only a local copy, the refusal with neither, where the restoring host reads it, and the manifest check against the
 * state's copy (a manifest signed with another host's key is accepted only when it equals it).
 */
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { ConfigSchema } from "../../src/config/schema";
import type { BackupRow } from "../../src/db/backup-job";
import { parseManifest, signManifest, type BackupManifest } from "../../src/db/backup/manifest";
import { backupTransfer, transferKind, transferSource } from "../../src/db/transfer";
import { Conflict, Invalid } from "../../src/errors";

const manifest: BackupManifest = {
  format: 1,
  backupId: "b1",
  env: "shop",
  dbName: "odoo_shop",
  odooVersion: "17.0",
  modules: [{ name: "base", version: "17.0.1.3" }],
  rowCounts: { res_partner: 12 },
  tableCount: 40,
  parts: {
    db: { file: "db.dump", size: 10, sha256: "a".repeat(64) },
    filestore: { file: "filestore.tar", size: 20, sha256: "b".repeat(64) },
  },
  pgDump: { version: "15.8", format: "custom" },
  server: { version: "15.8" },
  startedAt: "2026-12-05T10:00:00.000Z",
  finishedAt: "2026-12-05T10:00:05.000Z",
};

const row = (over: Partial<BackupRow> = {}): BackupRow => ({
  id: "b1",
  envId: "e1",
  kind: "manual",
  status: "completed",
  dbName: "odoo_shop",
  sizeBytes: 30,
  localPath: "/var/lib/odooops/backups/shop/b1",
  s3Key: "odooops/shop/b1/",
  manifest: JSON.parse(JSON.stringify(manifest)) as Record<string, unknown>,
  error: null,
  createdAt: "2026-12-05T10:00:00.000Z",
  finishedAt: "2026-12-05T10:00:05.000Z",
  expiresAt: null,
  ...over,
});

const hosts = { from: "h1", to: "h2", fromName: "vm1", toName: "vm2" };

describe("backupTransfer", () => {
  test("same host: none (the local copy is read as before)", () => {
    expect(backupTransfer(row(), { ...hosts, to: "h1" })).toBeNull();
  });

  test("another host: the S3 prefix and the state's manifest", () => {
    expect(backupTransfer(row(), hosts)).toEqual({ s3Key: "odooops/shop/b1/", manifest: row().manifest! });
  });

  test("another host and only a local copy: relayed from that host, its directory named by the manifest's slug", () => {
    const t = backupTransfer(row({ s3Key: null }), hosts);
    expect(t).toEqual({
      relay: { hostId: "h1", from: "backup", slug: "shop", transferId: "b1" },
      manifest: row().manifest!,
    });
    expect(transferKind(t!)).toBe("relay");
    expect(transferKind(backupTransfer(row(), hosts)!)).toBe("s3");
  });

  test("another host and no copy at all (or no host id for its maker): refused, naming both hosts", () => {
    for (const run of [
      () => backupTransfer(row({ s3Key: null, localPath: null }), hosts),
      () => backupTransfer(row({ s3Key: null }), { ...hosts, from: null }),
    ]) {
      expect(run).toThrow(Conflict);
      expect(run).toThrow(
        "backup b1 was made on host vm1 and has neither an S3 copy nor a local one there; it cannot be restored on host vm2",
      );
    }
  });

  test("a backup that did not complete is refused", () => {
    expect(() => backupTransfer(row({ status: "failed", manifest: null }), hosts)).toThrow(Invalid);
  });
});

describe("transferSource", () => {
  const t = { s3Key: "odooops/shop/b1/", manifest: {} };

  test("reads from this host's S3 target at the backup's prefix", () => {
    const config = ConfigSchema.parse({ backups: { s3: { bucket: "fleet-backups", prefix: "odooops/" } } });
    expect(transferSource(config, t)).toEqual({ kind: "s3", target: config.backups.s3!, prefix: "odooops/shop/b1/" });
  });

  test("a host without an S3 target says it needs the shared one", () => {
    expect(() => transferSource(ConfigSchema.parse({}), t)).toThrow(
      "this host has no S3 target configured (backups.s3); a backup made on another host is read from the shared S3 target",
    );
  });
});

describe("a manifest checked against the state's copy", () => {
  const otherHostKey = randomBytes(32);
  const text = signManifest(manifest, otherHostKey);
  const expected = JSON.parse(JSON.stringify(manifest)) as Record<string, unknown>;
  const thisHost = { key: randomBytes(32), acceptUnsigned: false };

  test("signed with another host's key: refused by the key, accepted when it equals the state's copy", () => {
    expect(() => parseManifest(text, "s3://b/x", thisHost)).toThrow("signed with another host's key");
    expect(parseManifest(text, "s3://b/x", { ...thisHost, expected })).toEqual(manifest);
  });

  test("altered in storage (even re-signed, or unsigned): refused", () => {
    const altered = { ...manifest, rowCounts: { res_partner: 1 } };
    for (const t of [signManifest(altered, otherHostKey), JSON.stringify(altered)])
      expect(() => parseManifest(t, "s3://b/x", { ...thisHost, expected })).toThrow(
        "s3://b/x: the manifest differs from the one recorded when the backup was made (altered in storage); refusing to restore it",
      );
  });
});
