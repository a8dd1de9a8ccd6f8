import { expect, test } from "bun:test";
import { ConfigSchema } from "../../src/config/schema";
import { envUrl } from "../../src/env/list";

test("https for tiers ACME covers unless HTTPS was given up on; http otherwise; non-default ports shown", () => {
  const plain = ConfigSchema.parse({});
  const acme = ConfigSchema.parse({ acme: { email: "ops@example.com" }, nginx: { httpsPort: 8443 } });
  expect(envUrl({ domain: "shop.example.com", tier: "production" }, plain)).toBe("http://shop.example.com");
  expect(envUrl({ domain: "shop.example.com", tier: "production", httpFallbackReason: null }, acme)).toBe(
    "https://shop.example.com:8443",
  );
  expect(envUrl({ domain: "shop.dev.example.com", tier: "dev" }, acme)).toBe("http://shop.dev.example.com");
  expect(
    envUrl(
      {
        domain: "shop.example.com",
        tier: "production",
        httpFallbackReason: "served over HTTP: HTTPS could not be enabled",
      },
      acme,
    ),
  ).toBe("http://shop.example.com");
  expect(envUrl({ domain: "x.example.com" }, ConfigSchema.parse({ nginx: { httpPort: 8080 } }))).toBe(
    "http://x.example.com:8080",
  );
});
