import { expect, test } from "bun:test";
import { formatBytes } from "../../src/bytes";
import {
  assertStorageWithinQuota,
  capLimits,
  checkRequested,
  quotaLimits,
  sizeBytes,
  storageState,
} from "../../src/policy/quota";

test("sizes are binary units", () => {
  expect(sizeBytes("512m")).toBe(536_870_912);
  expect(sizeBytes("2g")).toBe(2_147_483_648);
  expect(sizeBytes("1.5G")).toBe(1_610_612_736);
  expect(sizeBytes("1k")).toBe(1024);
  expect(sizeBytes("100")).toBe(100);
  expect(() => sizeBytes("2 GB")).toThrow("not a size");
  expect(formatBytes(1536)).toBe("1.5 KiB");
  expect(formatBytes(20 * 1024 ** 3)).toBe("20 GiB");
});

test("quota limits in env units (memory in MiB)", () => {
  expect(quotaLimits({ workers: 2, cpu: 1.5, memory: "1g", storage: "10g" })).toEqual({
    workers: 2,
    cpus: 1.5,
    memoryMb: 1024,
    storageBytes: 10 * 1024 ** 3,
  });
  expect(quotaLimits(undefined)).toEqual({});
});

test("tier limits are lowered to the quota, never raised", () => {
  expect(capLimits({ workers: 4, cpus: 2, memoryMb: 4096 }, { workers: 2, memory: "1g" })).toEqual({
    workers: 2,
    cpus: 2,
    memoryMb: 1024,
  });
  expect(capLimits({ workers: 1, cpus: 0.5, memoryMb: 512 }, { workers: 8, cpu: 4, memory: "8g" })).toEqual({
    workers: 1,
    cpus: 0.5,
    memoryMb: 512,
  });
  expect(capLimits({ workers: 3, cpus: 2, memoryMb: 2048 }, undefined)).toEqual({
    workers: 3,
    cpus: 2,
    memoryMb: 2048,
  });
});

test("a request above the quota is refused naming every key over it", () => {
  expect(() =>
    checkRequested({ workers: 4, memoryMb: 2048, cpus: 1 }, { workers: 2, memory: "1g", cpu: 2 }, "staging"),
  ).toThrow(
    "the staging tier's resource quota: workers 4 is above the quota of 2 (resource_quotas.staging.workers); memoryMb 2048 is above the quota of 1024 (resource_quotas.staging.memory)",
  );
  expect(() => checkRequested({ workers: 2, memoryMb: 1024 }, { workers: 2, memory: "1g" }, "staging")).not.toThrow();
  expect(() => checkRequested({ workers: 64 }, undefined, "dev")).not.toThrow();
});

test("storage: database + filestore against the quota", () => {
  const use = { databaseBytes: 700 * 1024 ** 2, filestoreBytes: 400 * 1024 ** 2 };
  expect(storageState(use, { storage: "1g" })).toEqual({
    quotaBytes: 1024 ** 3,
    usedBytes: 1100 * 1024 ** 2,
    exceeded: true,
    unknown: null,
  });
  expect(storageState(use, { storage: "2g" }).exceeded).toBe(false);
  expect(storageState(use, undefined)).toEqual({
    quotaBytes: null,
    usedBytes: 1100 * 1024 ** 2,
    exceeded: false,
    unknown: null,
  });
  expect(storageState({ databaseBytes: null, filestoreBytes: 5 }, { storage: "1k" })).toEqual({
    quotaBytes: 1024,
    usedBytes: 5,
    exceeded: false,
    unknown: "database size not known",
  });
  expect(() => assertStorageWithinQuota("shop", "staging", use, { storage: "1g" })).toThrow(
    "environment shop uses 1.1 GiB (database 700 MiB + filestore 400 MiB), above the staging storage quota of 1.0 GiB (resource_quotas.staging.storage): new deploys are blocked until it uses less or the quota is raised",
  );
  expect(() => assertStorageWithinQuota("shop", "staging", use, { storage: "2g" })).not.toThrow();
});
