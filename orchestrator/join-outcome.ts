// Turns how a join ended into an exit code, a last-run outcome and the one line the user reads.
import { EXIT_CODES, HimdsproxyError, type ExitCode } from './errors.js';
import { formatDuration } from './duration.js';

export type JoinOutcomeKind = 'joined' | 'already-joined' | 'failed' | 'timed-out' | 'interrupted';

export interface JoinOutcome {
  kind: JoinOutcomeKind;
  exitCode: ExitCode;
  message: string;
  fix?: string;
}

export function outcomeFromError(error: unknown): JoinOutcome {
  if (error instanceof HimdsproxyError) {
    const kind: JoinOutcomeKind =
      error.exitCode === EXIT_CODES.interrupted ? 'interrupted'
      : error.exitCode === EXIT_CODES.timedOut ? 'timed-out'
      : 'failed';
    return { kind, exitCode: error.exitCode, message: error.message, ...(error.fix ? { fix: error.fix } : {}) };
  }
  const detail = error instanceof Error ? error.message : String(error);
  return {
    kind: 'failed',
    exitCode: EXIT_CODES.internal,
    message: `Internal error: ${detail}`,
    fix: 'This is a bug in himdsproxy: please report it with the log named below',
  };
}

/** The single line printed at the end of every run. */
export function summaryLine(outcome: JoinOutcome, durationMs: number, logPath: string): string {
  const took = formatDuration(durationMs);
  switch (outcome.kind) {
    case 'joined':
      return `✔ ${outcome.message} (${took}). Logs: ${logPath}`;
    case 'already-joined':
      return `✔ ${outcome.message}. Logs: ${logPath}`;
    default: {
      const fix = outcome.fix ? ` Fix: ${outcome.fix}.` : '';
      return `✖ ${outcome.message.replace(/\.$/, '')} (exit ${outcome.exitCode} after ${took}).${fix} A complete log of this run is in ${logPath}`;
    }
  }
}
