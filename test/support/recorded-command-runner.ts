// A CommandRunner for tests: answers from a table of recorded outputs and records every call in order.
import type { CommandOptions, CommandResult, CommandRunner } from '../../orchestrator/platform/types.js';

export interface RecordedAnswer {
  exitCode?: number;
  stdout?: string;
  stderr?: string;
  timedOut?: boolean;
}

export interface RecordedCall {
  file: string;
  args: string[];
  options: CommandOptions | undefined;
}

function keyOf(file: string, args: readonly string[]): string {
  return JSON.stringify([file, ...args]);
}

/**
 * Each `on()` queues answers for one exact command line; every call takes the next one.
 * A command with no answer left throws, so a test notices commands it did not expect.
 */
export class RecordedCommandRunner implements CommandRunner {
  readonly calls: RecordedCall[] = [];
  private readonly answers = new Map<string, RecordedAnswer[]>();

  on(file: string, args: readonly string[], ...answers: RecordedAnswer[]): this {
    const key = keyOf(file, args);
    this.answers.set(key, [...(this.answers.get(key) ?? []), ...answers]);
    return this;
  }

  async run(file: string, args: readonly string[], options?: CommandOptions): Promise<CommandResult> {
    this.calls.push({ file, args: [...args], options });
    const answer = this.answers.get(keyOf(file, args))?.shift();
    if (answer === undefined) {
      throw new Error(`RecordedCommandRunner: unexpected command ${JSON.stringify([file, ...args])}`);
    }
    return {
      exitCode: answer.exitCode ?? 0,
      stdout: answer.stdout ?? '',
      stderr: answer.stderr ?? '',
      timedOut: answer.timedOut ?? false,
    };
  }

  /** Answers not yet used: a test can assert every recorded command actually ran. */
  unusedAnswers(): string[] {
    return [...this.answers.entries()].filter(([, queue]) => queue.length > 0).map(([key]) => key);
  }
}
