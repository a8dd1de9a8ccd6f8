/** The one error-to-text function and the one zod error formatter (src/errors.ts), on real zod errors. */
import { describe, expect, test } from "bun:test";
import { z } from "zod";
import { errorText, issuesText } from "../src/errors";

const Schema = z.object({
  backups: z.object({ keep: z.number().int().min(1) }),
  tags: z.array(z.string()),
});
const failed = (value: unknown) => {
  const r = Schema.safeParse(value);
  if (r.success) throw new Error("expected a failure");
  return r.error;
};

describe("issuesText", () => {
  const twoIssues = failed({ backups: { keep: 0 }, tags: ["a", 7] });

  test("each issue as its dotted path and message, '; ' between (the API's style)", () => {
    expect(issuesText(twoIssues)).toBe(
      "backups.keep: Too small: expected number to be >=1; tags.1: Invalid input: expected string, received number",
    );
  });

  test("one per line with the file first, and a named top level (the config's style)", () => {
    expect(issuesText(twoIssues, { prefix: "config.yaml", sep: "\n" })).toBe(
      "config.yaml: backups.keep: Too small: expected number to be >=1\nconfig.yaml: tags.1: Invalid input: expected string, received number",
    );
    expect(issuesText(failed("nope"), { prefix: "config.yaml", topLevel: "(top level)" })).toBe(
      "config.yaml: (top level): Invalid input: expected object, received string",
    );
  });

  test("an issue about the whole value is its message alone unless topLevel names it", () => {
    expect(issuesText(failed(null))).toBe("Invalid input: expected object, received null");
  });

  test("label renames the paths the user knows by another name; paths: false keeps messages only", () => {
    const label = (p: string) => (p === "backups.keep" ? "--keep" : undefined);
    expect(issuesText(twoIssues, { label })).toBe(
      "--keep: Too small: expected number to be >=1; tags.1: Invalid input: expected string, received number",
    );
    expect(issuesText(twoIssues, { paths: false })).toBe(
      "Too small: expected number to be >=1; Invalid input: expected string, received number",
    );
  });
});

describe("errorText", () => {
  test("an Error's message; anything else as a string", () => {
    expect(errorText(new Error("disk full"))).toBe("disk full");
    expect(errorText("plain")).toBe("plain");
    expect(errorText(42)).toBe("42");
  });

  test("code: the errno code first, unless the message starts with it", () => {
    const refused = Object.assign(new Error("connect failed 127.0.0.1:1"), { code: "ECONNREFUSED" });
    expect(errorText(refused)).toBe("connect failed 127.0.0.1:1");
    expect(errorText(refused, { code: true })).toBe("ECONNREFUSED: connect failed 127.0.0.1:1");
    const fsError = Object.assign(new Error("ENOENT: no such file"), { code: "ENOENT" });
    expect(errorText(fsError, { code: true })).toBe("ENOENT: no such file");
  });
});
