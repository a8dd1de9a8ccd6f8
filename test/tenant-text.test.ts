/**
 * Tenant text made safe for terminals (src/tenant-text.ts), with the sequences attackers use:
 * each case is the exact string that comes out. Then the places it guards: a job log written
 * through JobLogs (the file and what the SSE stream is given), a failure reason, an API error.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
// The API's app class (it extends zod with `.openapi`, which the error schema uses), first.
import { OpenAPIHono } from "@hono/zod-openapi";
import { onError } from "../src/api/errors";
import { CommandFailed, Invalid } from "../src/errors";
import { MAX_MESSAGE_REASON, MAX_REASON, readableReason } from "../src/exec/reason";
import { JobLogs } from "../src/jobs/job-log";
import { Secrets } from "../src/log";
import { capped, displayText } from "../src/tenant-text";
import { makeTempDir, removeTempDir } from "./support/tmp";
import { UNSAFE } from "./support/unsafe-text";

const ESC = "\u001b";

describe("displayText", () => {
  test.each([
    ["colours and erase are removed whole", `${ESC}[2J${ESC}[1;31mred${ESC}[0m text`, "red text"],
    ["cursor moves that overwrite earlier lines", `ok${ESC}[1A${ESC}[2K${ESC}[10;1Hfake ok`, "okfake ok"],
    ["private-mode CSI (hide the cursor, alternate screen)", `${ESC}[?25l${ESC}[?1049hx`, "x"],
    [
      "OSC 8 hyperlink keeps only its visible text",
      `${ESC}]8;;https://evil.test/${ESC}\\click${ESC}]8;;${ESC}\\`,
      "click",
    ],
    ["OSC 52 clipboard write, BEL-terminated", `a${ESC}]52;c;Y3VybCBldmlsIHwgc2g=\u0007b`, "ab"],
    ["window title", `${ESC}]0;pwned${ESC}\\title`, "title"],
    ["an unterminated OSC stops at the end of its line", `x${ESC}]52;c;AAAA\nnext line`, "x\nnext line"],
    ["DCS and APC strings", `${ESC}P1$r0m${ESC}\\${ESC}_apc${ESC}\\done`, "done"],
    ["C1 CSI and OSC bytes", "\u009b31mred\u009d0;t\u009c!", "red!"],
    ["two-byte escapes: reset, save cursor, charset", `${ESC}c${ESC}7${ESC}(Bplain`, "plain"],
    ["a lone ESC at the end", `end${ESC}`, "end"],
    ["carriage returns cannot overwrite a line", "all tests passed\rFAILED   ", "all tests passed\nFAILED   "],
    ["CRLF is one newline; a CR ending the text is dropped", "a\r\nb\r", "a\nb"],
    ["backspace, bell, vertical tab, form feed, NUL, DEL", "a\b\u0007\u000b\u000c\u0000\u007fz", "az"],
    [
      "bidi overrides and isolates (Trojan Source)",
      "access\u202e\u2066 level = user\u2069\u202c",
      "access level = user",
    ],
    ["LRM, RLM, ALM, zero-width space, BOM, tag characters", "a\u200e\u200f\u061c\u200b\ufeff\u{e0041}b", "ab"],
    ["tabs and newlines stay; other text as is", "Ünïcødé\tok\n€ 中文 ✓", "Ünïcødé\tok\n€ 中文 ✓"],
    ["`[` without ESC is plain text", "[31m] [x]", "[31m] [x]"],
  ])("%s", (_what, input, out) => {
    expect(displayText(input)).toBe(out);
    expect(UNSAFE.test(displayText(input))).toBe(false);
  });

  test("nothing unsafe survives any mix of sequences and controls", () => {
    const parts = [
      ESC,
      "[",
      "]",
      "\u0007",
      "\\",
      "\u009b",
      "\u009d",
      "\u009c",
      "\r",
      "8;;",
      "31m",
      "x",
      "\u202e",
      "P",
      "\n",
    ];
    let seed = 7;
    for (let n = 0; n < 2000; n++) {
      let s = "";
      for (let i = 0; i < 12; i++) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        s += parts[seed % parts.length];
      }
      expect(UNSAFE.test(displayText(s))).toBe(false);
      expect(displayText(displayText(s))).toBe(displayText(s));
    }
  });
});

describe("capped", () => {
  test("short text as is; long text cut with an ellipsis; never half a surrogate pair", () => {
    expect(capped("abc", 3)).toBe("abc");
    expect(capped("abcd", 3)).toBe("ab…");
    expect(capped("a😀bc", 3)).toBe("a…");
  });
});

describe("where tenant text is stored", () => {
  const dir = makeTempDir("odooops-tenant-text-");
  afterAll(() => removeTempDir(dir));

  test("job logs: the file and the lines handed to the event stream are filtered, then redacted", () => {
    const logs = new JobLogs(dir);
    Secrets.add("hunter2secret");
    const out = logs.append("job1", [
      `INFO test: ${ESC}]52;c;ZXZpbA==\u0007${ESC}[2Jpassed\r`,
      `password hunter2${ESC}[0msecret`,
    ]);
    expect(out).toEqual(["INFO test: passed", "password ***"]);
    expect(readFileSync(logs.file("job1"), "utf8")).toBe("INFO test: passed\npassword ***\n");
  });

  test("failure reasons: a command's line and any other message, each capped", () => {
    const cmd = new CommandFailed(
      ["docker", "run", "x"],
      1,
      `ERROR: ${ESC}]8;;https://evil.test${ESC}\\module failed\u202e${ESC}[1A`,
    );
    expect(readableReason(cmd)).toBe("docker run exited with 1: module failed");
    expect(readableReason(new Error(`addon tests failed:\n${ESC}[31mFAIL\u009b1A: test_x\rok`))).toBe(
      "addon tests failed:\nFAIL: test_x\nok",
    );
    const long = readableReason(new Error(`tests failed:\n${"y".repeat(5000)}`));
    expect(long).toHaveLength(MAX_MESSAGE_REASON);
    expect(long.endsWith("…")).toBe(true);
    expect(readableReason(new CommandFailed(["psql"], 2, "x".repeat(900)))).toHaveLength(MAX_REASON);
  });

  test("API errors: the message of a refusal that quotes an upload, and its details, are filtered", async () => {
    const app = new OpenAPIHono();
    app.onError(onError);
    app.get("/x", () => {
      throw new Invalid(`zip entry "${ESC}]0;owned\u0007evil\u202e.txt" is a symlink: refused`, {
        entries: [`${ESC}[2Jevil\u009b1A.txt`],
        size: 3,
        at: null,
      });
    });
    app.get("/cmd", () => {
      throw new CommandFailed(["psql"], 2, `FATAL: ${ESC}]52;c;ZXZpbA==\u0007denied`);
    });
    const res = await app.request("/x");
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: {
        code: "invalid",
        message: 'zip entry "evil.txt" is a symlink: refused',
        details: { entries: ["evil.txt"], size: 3, at: null },
      },
    });
    const cmd = await app.request("/cmd");
    expect(cmd.status).toBe(500);
    expect(await cmd.json()).toEqual({
      error: {
        code: "command_failed",
        message: "command exited with 2: psql\nFATAL: denied",
        details: { argv: ["psql"], exitCode: 2, stderr: "FATAL: denied" },
      },
    });
  });
});
