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

export class Invalid extends AppError {
  override readonly code = "invalid";
  override readonly status = 400;
  override readonly exitCode = 2;
}

export class Unauthorized extends AppError {
  override readonly code = "unauthorized";
  override readonly status = 401;
  override readonly exitCode = 3;
}

export class Forbidden extends AppError {
  override readonly code = "forbidden";
  override readonly status = 403;
  override readonly exitCode = 3;
}

export class NotFound extends AppError {
  override readonly code = "not_found";
  override readonly status = 404;
  override readonly exitCode = 4;
}

export class Conflict extends AppError {
  override readonly code = "conflict";
  override readonly status = 409;
  override readonly exitCode = 4;
}

/** Throttled (failed logins): the API adds `Retry-After: retryAfterSec`. */
export class TooManyRequests extends AppError {
  override readonly code = "too_many_requests";
  override readonly status = 429;
  constructor(
    message: string,
    readonly retryAfterSec: number,
  ) {
    super(message, { retryAfterSec });
  }
}

/** A request body over a configured limit. */
export class TooLarge extends AppError {
  override readonly code = "too_large";
  override readonly status = 413;
  override readonly exitCode = 2;
}

export class Unavailable extends AppError {
  override readonly code = "unavailable";
  override readonly status = 503;
}

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
