// How orchestrator code tells the user and the run log what is happening: one interface, one logger.
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface Reporter {
  /** Shown to the user and written to the run log. */
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** Written to the run log only. */
  debug(message: string): void;
}

type Level = 'info' | 'warn' | 'error' | 'debug';

/**
 * Writes every line synchronously to a log file (so nothing is lost when the process exits
 * abruptly) and the user-facing ones to the terminal.
 */
export class RunLogReporter implements Reporter {
  constructor(
    readonly logFile: string | undefined,
    private readonly terminal: { write(text: string): unknown } = process.stderr,
  ) {
    if (logFile) mkdirSync(dirname(logFile), { recursive: true });
  }

  info(message: string): void { this.emit('info', message); }
  warn(message: string): void { this.emit('warn', message); }
  error(message: string): void { this.emit('error', message); }
  debug(message: string): void { this.emit('debug', message); }

  private emit(level: Level, message: string): void {
    if (this.logFile) {
      appendFileSync(this.logFile, `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${message}\n`);
    }
    if (level === 'debug') return;
    const prefix = level === 'info' ? '' : `${level}: `;
    this.terminal.write(`${prefix}${message}\n`);
  }
}

/** Keeps lines in memory; for tests and for callers that print later (doctor --json). */
export class MemoryReporter implements Reporter {
  readonly lines: { level: Level; message: string }[] = [];
  info(message: string): void { this.lines.push({ level: 'info', message }); }
  warn(message: string): void { this.lines.push({ level: 'warn', message }); }
  error(message: string): void { this.lines.push({ level: 'error', message }); }
  debug(message: string): void { this.lines.push({ level: 'debug', message }); }
  text(): string { return this.lines.map((line) => `${line.level} ${line.message}`).join('\n'); }
}
