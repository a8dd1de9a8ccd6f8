import { describe, expect, test } from "bun:test";
import { type Candidate, placeEnv } from "../../src/fleet/placement";

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
const none = { cpus: 0, memoryMb: 0, diskMb: 0 };
const host = (name: string, over: Partial<Candidate> = {}): Candidate => ({
  id: `id-${name}`,
  name,
  online: true,
  draining: false,
  labels: {},
  inventory: inv(8, 16_384, 100_000),
  placed: none,
  ...over,
});
const need = { cpus: 2, memoryMb: 2048, diskMb: 20_480 };

describe("placement", () => {
  test("the host with the most free capacity after what is placed there", () => {
    const busy = host("a", { placed: { cpus: 6, memoryMb: 12_000, diskMb: 0 } });
    const idle = host("b");
    expect(placeEnv([busy, idle], { need }).host.name).toBe("b");
    const small = host("c", { inventory: inv(4, 8192, 100_000) });
    expect(placeEnv([small, host("d")], { need }).host.name).toBe("d");
  });

  test("--host and --label choose among hosts; offline and draining hosts are skipped", () => {
    const hosts = [host("a", { labels: { region: "eu" } }), host("b", { labels: { region: "us" } }), host("c")];
    expect(placeEnv(hosts, { need, host: "c" }).host.name).toBe("c");
    expect(placeEnv(hosts, { need, labels: { region: "us" } }).host.name).toBe("b");
    expect(placeEnv([host("x", { online: false }), host("y", { draining: true }), host("z")], { need }).host.name).toBe(
      "z",
    );
  });

  test("refused with the reason of every host", () => {
    const eu = { labels: { region: "eu" } };
    const hosts = [
      host("off", { online: false }),
      host("drain", { ...eu, draining: true }),
      host("full", { ...eu, placed: { cpus: 7, memoryMb: 0, diskMb: 0 } }),
      host("tiny", { ...eu, inventory: inv(8, 1024, 1000) }),
      host("new", { ...eu, inventory: null }),
      host("us", { labels: { region: "us" } }),
      host("eu-off", { ...eu, online: false }),
    ];
    let msg = "";
    try {
      placeEnv(hosts, { need, labels: { region: "eu" } });
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toContain("no host can take an env needing 2 cores, 2048 MB memory, 20480 MB disk");
    expect(msg).toContain("us: no label region=eu");
    expect(placeEnv(hosts, { need }).host.name).toBe("us");
    expect(msg).toContain("off: no label region=eu");
    expect(msg).toContain("drain: draining");
    expect(msg).toContain("full: 1 of 2 cores free");
    expect(msg).toContain("tiny: 1024 of 2048 MB memory free, 1000 of 20480 MB disk free");
    expect(msg).toContain("new: no inventory reported yet");
    expect(msg).toContain("eu-off: offline");
    expect(() => placeEnv(hosts, { need, host: "nope" })).toThrow(/no host nope/);
    expect(() => placeEnv(hosts, { need, host: "drain" })).toThrow(/drain: draining/);
    expect(() => placeEnv(hosts, { need, host: "off" })).toThrow(/off: offline/);
    expect(() => placeEnv([], { need })).toThrow(/no hosts/);
  });

  test("tier limits (lowerable) count at most the machine's size; explicit ones do not", () => {
    const small = host("small", { inventory: inv(2, 4096, 100_000) });
    const big = { cpus: 4, memoryMb: 8192, diskMb: 1000 };
    expect(() => placeEnv([small], { need: big })).toThrow("small: 2 of 4 cores free, 4096 of 8192 MB memory free");
    expect(placeEnv([small], { need: big, lowerable: ["cpus", "memoryMb"] }).host.name).toBe("small");
    expect(() => placeEnv([small], { need: big, lowerable: ["cpus"] })).toThrow("small: 4096 of 8192 MB memory free");
    // Lowered to the machine, not to what is left of it: a busy small host still refuses.
    const busy = host("busy", { inventory: inv(2, 4096, 100_000), placed: { cpus: 1, memoryMb: 0, diskMb: 0 } });
    expect(() => placeEnv([busy], { need: big, lowerable: ["cpus", "memoryMb"] })).toThrow("busy: 1 of 2 cores free");
  });

  test("the answer says why, and which hosts were passed over", () => {
    const hosts = [
      host("a", { placed: { cpus: 4, memoryMb: 0, diskMb: 0 } }),
      host("b", { labels: { ssd: "yes" } }),
      host("c", { online: false, offlineSince: "2026-01-02T03:04:05.000Z" }),
    ];
    expect(placeEnv(hosts, { need })).toEqual({
      host: hosts[1]!,
      inventory: inv(8, 16_384, 100_000),
      why: "the most free capacity of 2 host(s) that fit; 75% of its tightest resource left after this env",
      passedOver: ["c: offline since 2026-01-02T03:04:05.000Z"],
    });
    expect(placeEnv(hosts, { need, labels: { ssd: "yes" } }).why).toBe(
      "the most free capacity of 1 host(s) that fit with ssd=yes; 75% of its tightest resource left after this env",
    );
    expect(placeEnv(hosts, { need, host: "a" })).toMatchObject({
      why: "named by --host; 25% of its tightest resource left after this env",
      passedOver: [],
    });
  });
});
