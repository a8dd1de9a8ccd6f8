/**
 * Typed errors, mapped once: the API turns them into `{error:{code,message,details}}` with
 * `status`, the CLI into a message and `exitCode` (docs/cli-guide.md lists the codes).
 */
export class AppError extends Error {
  readonly code: string = "internal";
  readonly status: number = 500;
  readonly exitCode: number = 1;
  constructor(
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The base of each kind below: its code, HTTP status and CLI exit code in one line. */
function kind(code: string, status: number, exitCode = 1) {
  return class extends AppError {
    override readonly code = code;
    override readonly status = status;
    override readonly exitCode = exitCode;
  };
}

export class Invalid extends kind("invalid", 400, 2) {}

export class Unauthorized extends kind("unauthorized", 401, 3) {}

export class Forbidden extends kind("forbidden", 403, 3) {}

export class NotFound extends kind("not_found", 404, 4) {}

export class Conflict extends kind("conflict", 409, 4) {}

/** Throttled (failed logins): the API adds `Retry-After: retryAfterSec`. */
export class TooManyRequests extends kind("too_many_requests", 429) {
  constructor(
    message: string,
    readonly retryAfterSec: number,
  ) {
    super(message, { retryAfterSec });
  }
}

/** A request body over a configured limit. */
export class TooLarge extends kind("too_large", 413, 2) {}

export class Unavailable extends kind("unavailable", 503) {}

/** A spawned process exited non-zero (or timed out). argv is already redacted. */
export class CommandFailed extends AppError {
  override readonly code = "command_failed";
  constructor(
    readonly argv: string[],
    readonly exitCode_: number | null,
    readonly stderrTail: string,
    /** The caller's own sentence, when it has a better one than "exited with N". */
    readonly reason?: string,
  ) {
    super(`${reason ?? `command exited with ${exitCode_}`}: ${argv.join(" ")}${stderrTail ? `\n${stderrTail}` : ""}`, {
      argv,
      exitCode: exitCode_,
      stderr: stderrTail,
    });
  }
}

/**
 * A thrown value as one line of text for logs and messages: an Error's message, anything else
 * as a string. `code` puts a Node errno code first (`ECONNREFUSED: …`) unless the message
 * already starts with it, for probes whose message alone says too little.
 */
export function errorText(e: unknown, opts: { code?: boolean } = {}): string {
  if (!(e instanceof Error)) return String(e);
  const code = (e as NodeJS.ErrnoException).code;
  return opts.code && code && !e.message.startsWith(code) ? `${code}: ${e.message}` : e.message;
}

/** Why a file could not be read, in one word when the system gave one (ENOENT, EACCES), else the message. */
export function errnoText(e: unknown): string {
  return (e as NodeJS.ErrnoException)?.code ?? errorText(e);
}

/** What the zod formatter reads of an issue (zod's own type, without importing zod here). */
export interface IssueLike {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

export interface IssueTextOptions {
  /** Between issues ("; " by default, "\n" for one per line). */
  sep?: string;
  /** Before each issue, as `prefix: ` (the config file's name). */
  prefix?: string;
  /** Names an issue about the whole value (empty path), e.g. "(top level)"; else its message stands alone. */
  topLevel?: string;
  /** The name the user knows a path by (init's flags); the dotted path when it returns undefined. */
  label?: (path: string) => string | undefined;
  /** false: messages only, for schemas whose messages already say what is wrong. */
  paths?: boolean;
}

/**
 * The one zod error formatter: each issue as `a.b.c: message` (the exact path of the value that
 * failed, dotted), so config, API and file checks read alike: `config.yaml: backups.keep: …`,
 * `body.name: …`.
 */
export function issuesText(error: { readonly issues: readonly IssueLike[] }, opts: IssueTextOptions = {}): string {
  return error.issues
    .map((i) => {
      const dotted = i.path.map(String).join(".");
      const where = opts.paths === false ? undefined : dotted ? (opts.label?.(dotted) ?? dotted) : opts.topLevel;
      return `${opts.prefix ? `${opts.prefix}: ` : ""}${where ? `${where}: ` : ""}${i.message}`;
    })
    .join(opts.sep ?? "; ");
}
