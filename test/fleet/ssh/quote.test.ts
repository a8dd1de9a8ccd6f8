/** The one quoting function of remote commands: exact strings, hostile values stay one word. */
import { describe, expect, test } from "bun:test";
import { remoteCommand, shellQuote } from "../../../src/fleet/ssh/quote";

describe("shellQuote / remoteCommand", () => {
  test("every argument is single-quoted; a quote inside becomes '\\''", () => {
    expect(shellQuote("plain")).toBe("'plain'");
    expect(shellQuote("")).toBe("''");
    expect(shellQuote("x;rm -rf /")).toBe("'x;rm -rf /'");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote("''")).toBe(`''\\'''\\'''`);
    expect(shellQuote("a\nb")).toBe("'a\nb'");
    expect(shellQuote("$(id) `id` $HOME \\ * ? ~ !")).toBe("'$(id) `id` $HOME \\ * ? ~ !'");
  });

  test("argv → one remote command string, exactly", () => {
    expect(remoteCommand(["printf", "%s\\0", "x;rm -rf /", "", "it's"])).toBe(
      `'printf' '%s\\0' 'x;rm -rf /' '' 'it'\\''s'`,
    );
    expect(remoteCommand(["sha256sum", "--", "/tmp/a b"])).toBe(`'sha256sum' '--' '/tmp/a b'`);
  });

  test("refused: no program, or a NUL byte (a C string would cut it short)", () => {
    expect(() => remoteCommand([])).toThrow("needs a program");
    expect(() => remoteCommand(["echo", "a\0b"])).toThrow("NUL byte");
  });
});
