import { expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { repoKey } from "../../src/github/repo-url";
import { signatureValid, signBody } from "../../src/github/signature";

const body = new TextEncoder().encode('{"zen":"Keep it logically awesome."}');

test("signBody is GitHub's sha256= hex HMAC of the raw bytes", () => {
  const expected = createHmac("sha256", "It's a Secret to Everybody").update(body).digest("hex");
  expect(signBody("It's a Secret to Everybody", body)).toBe(`sha256=${expected}`);
});

test("GitHub's documented example signature verifies", () => {
  // From GitHub's "Validating webhook deliveries" docs: secret, payload and the signature it gives.
  const payload = new TextEncoder().encode("Hello, World!");
  expect(
    signatureValid(
      "It's a Secret to Everybody",
      payload,
      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    ),
  ).toBe(true);
});

test("wrong secret, changed body, malformed or missing header are refused", () => {
  const good = signBody("s3cret-s3cret-s3cret", body);
  expect(signatureValid("s3cret-s3cret-s3cret", body, good)).toBe(true);
  expect(signatureValid("other-secret-other", body, good)).toBe(false);
  expect(
    signatureValid("s3cret-s3cret-s3cret", new TextEncoder().encode('{"zen":"Keep it logically awesome!"}'), good),
  ).toBe(false);
  expect(signatureValid("s3cret-s3cret-s3cret", body, good.toUpperCase())).toBe(false);
  expect(signatureValid("s3cret-s3cret-s3cret", body, good.slice(0, -1))).toBe(false);
  expect(signatureValid("s3cret-s3cret-s3cret", body, `sha1=${good.slice(7, 47)}`)).toBe(false);
  expect(signatureValid("s3cret-s3cret-s3cret", body, undefined)).toBe(false);
  expect(signatureValid("s3cret-s3cret-s3cret", body, "")).toBe(false);
});

test("repository URLs in every GitHub form reduce to one key", () => {
  const key = "github.com/codertocat/hello-world";
  for (const url of [
    "https://github.com/Codertocat/Hello-World.git",
    "https://github.com/Codertocat/Hello-World",
    "git@github.com:Codertocat/Hello-World.git",
    "ssh://git@github.com/Codertocat/Hello-World.git",
    "git://github.com/Codertocat/Hello-World.git",
    "https://token@GitHub.com/Codertocat/Hello-World/",
  ]) {
    expect(repoKey(url)).toBe(key);
  }
  expect(repoKey("https://github.com/Codertocat/Hello-World-2.git")).not.toBe(key);
  expect(repoKey("https://gitlab.com/Codertocat/Hello-World.git")).not.toBe(key);
  expect(repoKey("file:///srv/addons.git")).toBeNull();
  expect(repoKey("not a url")).toBeNull();
});
