import { describe, expect, test } from "bun:test";
import { checkRequestedFitsHost, clampToHost } from "../../src/env/host-fit";

const host = { cpus: 2, memoryMb: 3900 };

describe("limits that fit the host", () => {
  test("a tier's limits above the host are lowered to it, each with a note naming its config key", () => {
    expect(clampToHost({ workers: 9, cpus: 4, memoryMb: 4096 }, host, "production")).toEqual({
      limits: { workers: 9, cpus: 2, memoryMb: 3900 },
      notes: [
        "tiers.production.cpus 4 is above this host's 2 CPUs: using 2",
        "tiers.production.memoryMb 4096 is above this host's 3900 MiB: using 3900",
      ],
    });
    expect(clampToHost({ workers: 0, cpus: 1, memoryMb: 1024 }, { cpus: 1, memoryMb: 1024 }, "dev")).toEqual({
      limits: { workers: 0, cpus: 1, memoryMb: 1024 },
      notes: [],
    });
    expect(clampToHost({ workers: 2, cpus: 2, memoryMb: 2048 }, { cpus: 1, memoryMb: 8192 }, "staging").notes).toEqual([
      "tiers.staging.cpus 2 is above this host's 1 CPU: using 1",
    ]);
  });

  test("an explicit request above the host is refused in one line naming every excess", () => {
    let message = "";
    try {
      checkRequestedFitsHost({ cpus: 64, memoryMb: 8192, workers: 30 }, host);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toBe(
      "cpus 64 (--cpus) is above this host's 2 CPUs; memoryMb 8192 (--memory-mb) is above this host's 3900 MiB",
    );
    expect(() => checkRequestedFitsHost({ cpus: 2, memoryMb: 3900 }, host)).not.toThrow();
    expect(() => checkRequestedFitsHost({}, host)).not.toThrow();
  });
});
