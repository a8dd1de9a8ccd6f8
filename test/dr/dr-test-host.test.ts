/** Where a DR test runs (src/dr/test-host.ts): the pure choice, every refusal and every reason. */
import { describe, expect, test } from "bun:test";
import { chooseDrTestHost, type DrHostInput } from "../../src/dr/test-host";
import { Conflict, NotFound } from "../../src/errors";
import type { Candidate } from "../../src/fleet/placement";

const inv = (cores: number, memoryMb: number, diskFreeMb: number) => ({
  cores,
  memoryMb,
  diskFreeMb,
  load: 0,
  docker: "24",
  postgres: "15",
  nginx: "1.22",
  agentVersion: "0.1.0",
});
const host = (name: string, over: Partial<Candidate> = {}): Candidate => ({
  id: `id-${name}`,
  name,
  online: true,
  draining: false,
  labels: {},
  inventory: inv(8, 16_384, 100_000),
  placed: { cpus: 0, memoryMb: 0, diskMb: 0 },
  ...over,
});
const input = (over: Partial<DrHostInput> = {}): DrHostInput => ({
  envHost: { id: "id-coord", name: "coord" },
  candidates: [host("coord"), host("b")],
  need: { cpus: 1, memoryMb: 1024, diskMb: 500 },
  backupId: "bk1",
  s3Copy: true,
  image: { pull: "registry.local/shop:abc" },
  ...over,
});

describe("choosing the host of a DR test", () => {
  test("another online, non-draining host with room, when the backup is in S3 and the image in a registry", () => {
    expect(chooseDrTestHost(input())).toEqual({
      where: "other",
      hostId: "id-b",
      name: "b",
      image: "registry.local/shop:abc",
    });
    // Offline, draining and too small hosts are passed over for one that fits.
    const hosts = [
      host("coord"),
      host("off", { online: false }),
      host("drain", { draining: true }),
      host("tiny", { inventory: inv(1, 512, 100_000) }),
      host("ok"),
    ];
    expect(chooseDrTestHost(input({ candidates: hosts }))).toMatchObject({ where: "other", name: "ok" });
  });

  test("the env's own host, with why, when no other host can do it", () => {
    expect(chooseDrTestHost(input({ candidates: [host("coord")] }))).toEqual({
      where: "own",
      hostId: "id-coord",
      name: "coord",
      reason: "no other host",
    });
    // Standalone: no host rows at all.
    expect(chooseDrTestHost(input({ envHost: { id: null, name: "this host" }, candidates: [] }))).toEqual({
      where: "own",
      hostId: null,
      name: "this host",
      reason: "no other host",
    });
    expect(chooseDrTestHost(input({ s3Copy: false }))).toMatchObject({ where: "own", reason: "no S3 copy" });
    expect(chooseDrTestHost(input({ image: { none: "release image shop:abc was never pushed" } }))).toMatchObject({
      where: "own",
      reason: "image not in a registry",
    });
    const busy = chooseDrTestHost(
      input({ candidates: [host("coord"), host("b", { online: false, offlineSince: "2026-01-01T00:00:00Z" })] }),
    );
    expect(busy).toEqual({
      where: "own",
      hostId: "id-coord",
      name: "coord",
      reason: "no other host available (b: offline since 2026-01-01T00:00:00Z)",
    });
  });

  test("--host names the host, the env's own included", () => {
    expect(chooseDrTestHost(input({ asked: "b" }))).toMatchObject({ where: "other", name: "b" });
    expect(chooseDrTestHost(input({ asked: "coord" }))).toEqual({
      where: "own",
      hostId: "id-coord",
      name: "coord",
      reason: null,
    });
  });

  test("--host is refused with the reason when that host cannot run it", () => {
    const refused = (over: Partial<DrHostInput>, type: typeof Conflict | typeof NotFound, text: string) => {
      expect(() => chooseDrTestHost(input(over))).toThrow(type);
      expect(() => chooseDrTestHost(input(over))).toThrow(text);
    };
    refused({ asked: "nope" }, NotFound, "dr test --host nope: no host nope (hosts: coord, b)");
    refused(
      { asked: "b", candidates: [host("coord"), host("b", { online: false, offlineSince: "2026-01-01T00:00:00Z" })] },
      Conflict,
      "dr test --host b: host is offline since 2026-01-01T00:00:00Z",
    );
    refused(
      { asked: "b", candidates: [host("coord"), host("b", { draining: true })] },
      Conflict,
      "dr test --host b: host is draining",
    );
    refused({ asked: "b", s3Copy: false }, Conflict, "backup bk1 has no S3 copy");
    refused({ asked: "b", image: { none: "release image shop:abc was never pushed" } }, Conflict, "never pushed");
    refused(
      { asked: "b", candidates: [host("coord"), host("b", { inventory: inv(1, 512, 100_000) })] },
      Conflict,
      "dr test --host b: no host can take an env needing 1 cores, 1024 MB memory, 500 MB disk: b: 512 of 1024 MB memory free",
    );
  });
});
