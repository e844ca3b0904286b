// Runs external programs for the platform adapters (execa), reporting failures as fields, never as throws.
import { execa } from 'execa';
import type { CommandOptions, CommandResult, CommandRunner } from './types.js';

/** Long enough for a cold PowerShell start on a busy server, short enough that a hung tool cannot stall a run. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 60_000;

/** Exit code reported when the program could not be started at all (the shell convention for "not found"). */
export const COMMAND_NOT_STARTED_EXIT_CODE = 127;

export const execaCommandRunner: CommandRunner = {
  async run(file: string, args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
    const result = await execa(file, args, {
      reject: false,
      timeout: options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      windowsHide: true,
      // PowerShell waits for end-of-input when its standard input is an open pipe, so close it unless we feed it.
      ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
      stripFinalNewline: false,
      encoding: 'utf8',
    });
    const stderr = typeof result.stderr === 'string' ? result.stderr : '';
    const notStarted = result.exitCode === undefined && !result.timedOut && result.signal === undefined;
    return {
      exitCode: result.exitCode ?? (notStarted ? COMMAND_NOT_STARTED_EXIT_CODE : -1),
      stdout: typeof result.stdout === 'string' ? result.stdout : '',
      // A program that never started has no stderr of its own: say why it did not start.
      stderr: notStarted && stderr === '' ? (result.originalMessage ?? result.shortMessage ?? '') : stderr,
      timedOut: result.timedOut,
    };
  },
};
