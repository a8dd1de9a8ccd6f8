/**
 * The first-start admin password file exists so the first admin can log in once; it is removed
 * as soon as that password was used to log in or was changed, so it does not stay on disk as a
 * standing credential.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { timingSafeEqual } from "node:crypto";
import { Log } from "../log";

const log = Log.create("auth");

export function forgetFirstStartPassword(file: string | undefined, usedPassword: string): void {
  if (!file || !existsSync(file)) return;
  const stored = Buffer.from(readFileSync(file, "utf8").trim());
  const used = Buffer.from(usedPassword);
  if (stored.length !== used.length || !timingSafeEqual(stored, used)) return;
  rmSync(file, { force: true });
  log.info("removed the first-start admin password file: its password has been used", { file });
}
