// The one error a platform adapter throws when an external command fails, carrying what callers branch on.
import { EXIT_CODES, HimdsproxyError } from '../errors.js';
import type { CommandResult } from './types.js';

/** A command line as a person would type it, shortened so long PowerShell scripts keep messages readable. */
export function describeCommand(file: string, args: readonly string[], maxLength = 240): string {
  const text = [file, ...args.map((arg) => (/\s/.test(arg) ? `"${arg}"` : arg))].join(' ');
  return text.length > maxLength ? `${text.slice(0, maxLength - 1)}…` : text;
}

/** The first non-empty line a failing command printed: stderr first, then stdout (netsh reports errors on stdout). */
export function firstOutputLine(result: Pick<CommandResult, 'stdout' | 'stderr'>): string | undefined {
  for (const text of [result.stderr, result.stdout]) {
    const line = text.split(/\r?\n/).map((candidate) => candidate.trim()).find((candidate) => candidate !== '');
    if (line !== undefined) return line;
  }
  return undefined;
}

export class PlatformCommandError extends HimdsproxyError {
  readonly command: string;
  readonly commandExitCode: number;
  readonly timedOut: boolean;
  readonly firstLine: string | undefined;

  constructor(
    file: string,
    args: readonly string[],
    result: CommandResult,
    fix: string | undefined,
    timeoutMs?: number,
  ) {
    const command = describeCommand(file, args);
    const firstLine = firstOutputLine(result);
    const what = result.timedOut
      ? `Command timed out${timeoutMs === undefined ? '' : ` after ${timeoutMs} milliseconds`}: ${command}`
      : `Command failed with exit code ${result.exitCode}: ${command}`;
    super(firstLine === undefined ? what : `${what}\n${firstLine}`, EXIT_CODES.preflightFailed, fix);
    this.command = command;
    this.commandExitCode = result.exitCode;
    this.timedOut = result.timedOut;
    this.firstLine = firstLine;
  }
}

/** Thrown when a command succeeded but printed something we cannot read. */
export class UnexpectedCommandOutputError extends HimdsproxyError {
  constructor(
    readonly command: string,
    expected: string,
    readonly output: string,
  ) {
    const shown = output.trim().slice(0, 200);
    super(
      `Unexpected output from ${command}: expected ${expected}, got ${shown === '' ? 'nothing' : JSON.stringify(shown)}`,
      EXIT_CODES.preflightFailed,
      'Run the command yourself to see what it prints, and report it if it looks normal.',
    );
  }
}
