// How a running download shows its progress: a bar on a terminal, sparse plain lines elsewhere.
import cliProgress from 'cli-progress';
import type { Reporter } from '../../reporter.js';

/** Plain lines go into logs and CI output: one every few seconds is plenty. */
const PLAIN_LINE_INTERVAL_MS = 5_000;
const MIB = 1024 * 1024;

export interface DownloadProgress {
  /** A new attempt started; `totalBytes` is undefined when the server sent no length. */
  start(totalBytes: number | undefined): void;
  update(receivedBytes: number): void;
  /** Removes the bar (if any); safe to call more than once. */
  stop(): void;
}

export function createDownloadProgress(
  reporter: Reporter,
  showBar: boolean,
  now: () => number = Date.now,
): DownloadProgress {
  return showBar ? new TerminalBar(reporter, now) : new PlainLines(reporter, now);
}

export function formatMiB(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

class PlainLines implements DownloadProgress {
  private totalBytes: number | undefined;
  private lastLineAt = 0;

  constructor(private readonly reporter: Reporter, private readonly now: () => number) {}

  start(totalBytes: number | undefined): void {
    this.totalBytes = totalBytes;
    this.lastLineAt = this.now();
  }

  update(receivedBytes: number): void {
    if (this.now() - this.lastLineAt < PLAIN_LINE_INTERVAL_MS) return;
    this.lastLineAt = this.now();
    const total = this.totalBytes === undefined ? '' : ` of ${formatMiB(this.totalBytes)}`;
    this.reporter.info(`downloaded ${formatMiB(receivedBytes)}${total}`);
  }

  stop(): void {}
}

class TerminalBar implements DownloadProgress {
  private bar: cliProgress.SingleBar | undefined;
  private readonly fallback: PlainLines;

  constructor(reporter: Reporter, now: () => number) {
    this.fallback = new PlainLines(reporter, now);
  }

  start(totalBytes: number | undefined): void {
    this.stop();
    // Without a length a bar cannot show a fraction; plain lines still show it moves.
    if (totalBytes === undefined || totalBytes === 0) {
      this.fallback.start(totalBytes);
      return;
    }
    this.bar = new cliProgress.SingleBar({
      format: '  downloading [{bar}] {percentage}% | {receivedMiB} of {totalMiB} MiB | {duration_formatted}',
      hideCursor: true,
      clearOnComplete: true,
      stream: process.stderr,
    });
    this.bar.start(totalBytes, 0, { receivedMiB: '0.0', totalMiB: (totalBytes / MIB).toFixed(1) });
  }

  update(receivedBytes: number): void {
    if (this.bar) this.bar.update(receivedBytes, { receivedMiB: (receivedBytes / MIB).toFixed(1) });
    else this.fallback.update(receivedBytes);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
