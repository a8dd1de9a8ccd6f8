/** Secrets come from files (or stdin, once), never from the command line where `ps` shows them. */
import { readFileSync } from "node:fs";
import { Invalid, errnoText } from "../errors";
import { Secrets } from "../log";
import type { ReadSecret } from "./answers";

/** The value without the line break editors and `echo` add. */
export function stripNewline(text: string): string {
  return text.replace(/\r?\n$/, "");
}

export function readSecretInput(readStdin: () => Promise<string>): ReadSecret {
  let stdinUsedBy: string | null = null;
  return async (spec, flag) => {
    let value: string;
    if (spec === "-") {
      if (stdinUsedBy) throw new Invalid(`${flag} -: stdin is already read by ${stdinUsedBy}; give one of them a file`);
      stdinUsedBy = flag;
      value = stripNewline(await readStdin());
    } else {
      try {
        value = stripNewline(readFileSync(spec, "utf8"));
      } catch (e) {
        throw new Invalid(`${flag} ${spec}: cannot read it (${errnoText(e)})`);
      }
    }
    if (value === "") throw new Invalid(`${flag} ${spec}: empty`);
    Secrets.add(value);
    return value;
  };
}
