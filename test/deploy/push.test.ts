/** Release images copied to a registry (`deploy.registry`): exact argv, and a real push to a private registry. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { imagePush, imageTag } from "../../src/deploy/commands";
import { pushRelease, registryRef } from "../../src/deploy/push";
import { ConfigSchema } from "../../src/config/schema";
import { run } from "../../src/exec/run";
import { STANDIN_IMAGE } from "../support/env-host";
import { startRegistry, type TestRegistry } from "../support/registry";
import { randomSuffix } from "../support/tmp";

let registry: TestRegistry;
const local = `t${randomSuffix(8)}-shop:0123456789ab`;
beforeAll(async () => {
  registry = await startRegistry();
  await run({ argv: ["docker", "image", "tag", STANDIN_IMAGE, local] });
}, 60_000);
afterAll(async () => {
  if (registry)
    await run(
      { argv: ["docker", "image", "rm", local, registryRef(`${registry.address}/odooops`, local)] },
      { nothrow: true },
    );
  await registry?.stop();
}, 60_000);

test("argv of tag and push; references are validated", () => {
  expect(imageTag({ binary: "docker" }, "odooops-shop:abc", "reg.example.com/acme/odooops-shop:abc").argv).toEqual([
    "docker",
    "image",
    "tag",
    "odooops-shop:abc",
    "reg.example.com/acme/odooops-shop:abc",
  ]);
  expect(imagePush({ binary: "docker" }, "reg.example.com/acme/odooops-shop:abc").argv).toEqual([
    "docker",
    "image",
    "push",
    "reg.example.com/acme/odooops-shop:abc",
  ]);
  expect(() => imagePush({ binary: "docker" }, "--help")).toThrow("invalid image reference");
  expect(registryRef("reg.example.com/acme/", "odooops-shop:abc")).toBe("reg.example.com/acme/odooops-shop:abc");
});

test("deploy.registry is validated at load", () => {
  expect(ConfigSchema.parse({ deploy: { registry: "127.0.0.1:5000/odooops" } }).deploy.registry).toBe(
    "127.0.0.1:5000/odooops",
  );
  expect(ConfigSchema.parse({}).deploy.registry).toBe("");
  expect(() => ConfigSchema.parse({ deploy: { registry: "https://reg.example.com" } })).toThrow("registry host");
});

test("a release image is pushed to the registry under its own name and tag", async () => {
  const lines: string[] = [];
  const ref = await pushRelease({ binary: "docker" }, `${registry.address}/odooops`, local, (l) => lines.push(l));
  expect(ref).toBe(`${registry.address}/odooops/${local}`);
  const [repo, tag] = local.split(":");
  expect(await registry.tags(`odooops/${repo}`)).toEqual([tag!]);
  expect(lines.join("\n")).toContain("digest: sha256:");
}, 120_000);
