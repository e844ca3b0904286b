// Step "handler enable": runs the enable command while following its status file, until a terminal status.
import { EXIT_CODES, HimdsproxyError } from '../errors.js';
import type { Reporter } from '../reporter.js';
import { runHandlerCommand, type HandlerCommandContext } from './handler.js';
import { followStatus, type HandlerStatus } from './status.js';

/** What AADLoginForWindows' documented error codes mean for the person at the console (PROTOCOLS.md §4). */
const HANDLER_ERROR_FIXES: Record<number, string> = {
  [-2145648574]:
    'dsregcmd could not read the tenant from /metadata/identity/info: run `himdsproxy doctor` and check that the himds service is running',
  [-2145648607]:
    'dsregcmd could not reach enterpriseregistration.windows.net: allow outbound HTTPS to the Entra hosts listed in the README',
  51: 'This Windows version is not supported by AADLoginForWindows',
};

export function fixForHandlerErrorCode(code: number | undefined): string | undefined {
  return code === undefined ? undefined : HANDLER_ERROR_FIXES[code];
}

export interface EnableSettings {
  enableCommand: string;
  statusFile: string;
  /** Bounds the wait for a terminal status (--timeout). */
  statusTimeoutMs: number;
  onStatus(status: HandlerStatus): void;
  reporter: Reporter;
}

/**
 * The status is followed while enable runs, so progress shows live. Whichever fails first stops
 * the other: a timed-out wait kills a hanging enable, and a failed enable ends the wait. Exit 0
 * only means the command ran; the verdict is the status: success resolves, error throws (exit 6).
 */
export async function enableAndFollowStatus(settings: EnableSettings, context: HandlerCommandContext): Promise<HandlerStatus> {
  const statusWatch = new AbortController();
  const enableRun = new AbortController();
  const outerSignal = context.signal ?? new AbortController().signal;
  let statusFailure: unknown;
  const statusPromise = followStatus(settings.statusFile, {
    timeoutMs: settings.statusTimeoutMs,
    signal: AbortSignal.any([outerSignal, statusWatch.signal]),
    reporter: settings.reporter,
    onStatus: settings.onStatus,
  });
  statusPromise.catch((error: unknown) => {
    statusFailure = error;
    enableRun.abort();
  });
  try {
    await runHandlerCommand('enable', settings.enableCommand, { ...context, signal: AbortSignal.any([outerSignal, enableRun.signal]) });
  } catch (error) {
    if (statusFailure !== undefined) throw statusFailure;
    statusWatch.abort();
    throw error;
  }
  const terminal = await statusPromise;
  if (terminal.status === 'error') {
    const code = terminal.code === undefined ? '' : ` (code ${terminal.code})`;
    throw new HimdsproxyError(
      `The handler reported an error${code}: ${terminal.message ?? 'no message'}`,
      EXIT_CODES.handlerError,
      fixForHandlerErrorCode(terminal.code) ?? `Read the handler's logs in ${context.paths.handlerLogDirectory}`,
    );
  }
  return terminal;
}
