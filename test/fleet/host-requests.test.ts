import { describe, expect, test } from "bun:test";
import { HostRequests } from "../../src/fleet/host-requests";

describe("HostRequests", () => {
  test("take returns a host's requests oldest first, then null; other hosts' stay queued", () => {
    const q = new HostRequests<string>();
    q.push("h1", "a");
    q.push("h2", "x");
    q.push("h1", "b");
    expect(q.take("h1")).toBe("a");
    expect(q.take("h1")).toBe("b");
    expect(q.take("h1")).toBeNull();
    expect(q.take("h2")).toBe("x");
    expect(q.take("h2")).toBeNull();
  });

  test("push wakes only the listeners of that host, until they unsubscribe", () => {
    const q = new HostRequests<string>();
    const woken: string[] = [];
    const off1 = q.onRequested("h1", () => woken.push("h1-a"));
    q.onRequested("h1", () => woken.push("h1-b"));
    q.onRequested("h2", () => woken.push("h2"));
    q.push("h1", "a");
    expect(woken).toEqual(["h1-a", "h1-b"]);
    off1();
    q.push("h1", "b");
    expect(woken).toEqual(["h1-a", "h1-b", "h1-b"]);
  });

  test("remove withdraws only the matching requests of that host", () => {
    const q = new HostRequests<{ id: string }>();
    q.push("h1", { id: "a" });
    q.push("h1", { id: "b" });
    q.push("h2", { id: "a" });
    q.remove("h1", (r) => r.id === "a");
    expect(q.take("h1")).toEqual({ id: "b" });
    expect(q.take("h1")).toBeNull();
    expect(q.take("h2")).toEqual({ id: "a" });
    q.remove("h3", () => true);
    expect(q.take("h3")).toBeNull();
  });
});
