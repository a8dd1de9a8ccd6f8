/**
 * Confirmation of destructive commands: a prompt on a TTY (typing the name for production),
 * and outside a TTY a refusal unless --yes was given — never a hang waiting for input.
 */
import { Invalid } from "../errors";
import type { CliIo } from "./io";

export async function confirmDestructive(
  io: CliIo,
  opts: { yes: boolean; what: string; typeToConfirm?: string; flagHint: string },
): Promise<void> {
  if (opts.yes) return;
  if (!io.interactive)
    throw new Invalid(`refusing to ${opts.what} without confirmation: not a terminal; pass ${opts.flagHint}`);
  const clack = await import("@clack/prompts");
  if (opts.typeToConfirm !== undefined) {
    const typed = await clack.text({ message: `This will ${opts.what}. Type ${opts.typeToConfirm} to confirm` });
    if (clack.isCancel(typed) || typed !== opts.typeToConfirm) throw new Invalid("not confirmed; nothing changed");
    return;
  }
  const ok = await clack.confirm({ message: `This will ${opts.what}. Continue?`, initialValue: false });
  if (clack.isCancel(ok) || ok !== true) throw new Invalid("not confirmed; nothing changed");
}
