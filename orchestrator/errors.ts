// Exit codes of `himdsproxy` and the one error type that carries them up to cli.ts.

/** DESIGN.md "Exit codes (join)"; doctor uses 0 and 3 too. */
export const EXIT_CODES = {
  ok: 0,
  internal: 1,
  usage: 2,
  preflightFailed: 3,
  packageFailed: 4,
  proxyFailed: 5,
  handlerError: 6,
  timedOut: 7,
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/**
 * A failure the user can act on. Deep code throws it; only cli.ts turns it into an exit.
 * `message` says what failed (expected vs. arrived), `fix` what to do about it.
 */
export class HimdsproxyError extends Error {
  override readonly name = 'HimdsproxyError';
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly fix?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isHimdsproxyError(error: unknown): error is HimdsproxyError {
  return error instanceof HimdsproxyError;
}
