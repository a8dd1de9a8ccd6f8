/**
 * Which docker objects the start sweep takes as a DR test's (src/dr/leftovers.ts): odooops'
 * labels and exactly the name a DR test of the env in the slug label gets, under this host's
 * prefix. Anything else — a real env's init container or network, another host's prefix, a
 * look-alike name without the labels, labels naming another env — is not ours to remove.
 */
import { describe, expect, test } from "bun:test";
import { ConfigSchema } from "../../src/config/schema";
import { resolvePaths } from "../../src/config/paths";
import { isDrTestContainer, isDrTestNetwork } from "../../src/dr/leftovers";
import { envLabels } from "../../src/env/resources";

const deps = { config: ConfigSchema.parse({ docker: { namePrefix: "oo" } }), paths: resolvePaths("/srv/odooops") };
const shop = { id: "e1", slug: "shop" };

describe("a DR test's container", () => {
  test("its name and init labels: taken", () => {
    expect(isDrTestContainer(deps, "oo-shop-init-drtest", envLabels(shop, "init"))).toBe(true);
  });
  test("anything else: left alone", () => {
    const cases: [string, Record<string, string> | null][] = [
      ["oo-shop-init", envLabels(shop, "init")],
      ["oo-shop-r3", envLabels(shop, "web")],
      ["other-shop-init-drtest", envLabels(shop, "init")],
      ["oo-shop-init-drtest", null],
      ["oo-shop-init-drtest", { "odooops.slug": "shop" }],
      ["oo-shop-init-drtest", envLabels(shop, "web")],
      ["oo-shop-init-drtest", envLabels({ id: "e2", slug: "shop-init" }, "init")],
      ["oo-shop-init-drtest", { ...envLabels(shop, "init"), "odooops.managed": "false" }],
    ];
    for (const [name, labels] of cases)
      expect({ name, labels, ours: isDrTestContainer(deps, name, labels) }).toEqual({ name, labels, ours: false });
  });
});

describe("a DR test's network", () => {
  test("its name and network labels: taken", () => {
    expect(isDrTestNetwork(deps, "oo-shop-drtest", envLabels(shop, "network"))).toBe(true);
  });
  test("a real env's network, even one whose slug ends in -drtest, and look-alikes: left alone", () => {
    const cases: [string, Record<string, string> | null][] = [
      ["oo-shop", envLabels(shop, "network")],
      ["oo-shop-drtest", envLabels({ id: "e3", slug: "shop-drtest" }, "network")],
      ["oo-shop-drtest", null],
      ["oo-shop-drtest", envLabels(shop, "init")],
      ["xx-shop-drtest", envLabels(shop, "network")],
    ];
    for (const [name, labels] of cases)
      expect({ name, labels, ours: isDrTestNetwork(deps, name, labels) }).toEqual({ name, labels, ours: false });
  });
});
