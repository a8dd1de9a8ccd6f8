/**
 * The ONE way a remote command is built. SSH's exec channel carries a single string that the
 * remote user's login shell parses, so an argv array is turned into that string here and
 * nowhere else: every argument POSIX single-quoted (inside '…' nothing is special except the
 * quote itself, which becomes '\''), so no value can add a word, a redirection or a command.
 */
export function shellQuote(arg: string): string {
  if (arg.includes("\0")) throw new Error("a remote argument cannot contain a NUL byte");
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

export function remoteCommand(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error("a remote command needs a program");
  return argv.map(shellQuote).join(" ");
}
