// Plain progress lines: rate-limited, with the total when known.
import { expect } from 'chai';
import { MemoryReporter } from '../../../orchestrator/reporter.js';
import { createDownloadProgress } from '../../../orchestrator/steps/package/download-progress.js';

describe('package download progress', () => {
  const MIB = 1024 * 1024;

  it('prints at most one plain line every five seconds, with the total', () => {
    const reporter = new MemoryReporter();
    let now = 1_000_000;
    const progress = createDownloadProgress(reporter, false, () => now);
    progress.start(10 * MIB);
    progress.update(1 * MIB);
    now += 4_999;
    progress.update(2 * MIB);
    now += 1;
    progress.update(3 * MIB);
    now += 1_000;
    progress.update(4 * MIB);
    now += 5_000;
    progress.update(9.5 * MIB);
    progress.stop();
    expect(reporter.lines).to.deep.equal([
      { level: 'info', message: 'downloaded 3.0 MiB of 10.0 MiB' },
      { level: 'info', message: 'downloaded 9.5 MiB of 10.0 MiB' },
    ]);
  });

  it('leaves out the total when the server sent no length', () => {
    const reporter = new MemoryReporter();
    let now = 0;
    const progress = createDownloadProgress(reporter, false, () => now);
    progress.start(undefined);
    now += 6_000;
    progress.update(2 * MIB);
    expect(reporter.lines.map((line) => line.message)).to.deep.equal(['downloaded 2.0 MiB']);
  });

  it('falls back to plain lines on a terminal when the length is unknown', () => {
    const reporter = new MemoryReporter();
    let now = 0;
    const progress = createDownloadProgress(reporter, true, () => now);
    progress.start(undefined);
    now += 6_000;
    progress.update(MIB);
    progress.stop();
    expect(reporter.lines.map((line) => line.message)).to.deep.equal(['downloaded 1.0 MiB']);
  });

  it('drives a cli-progress bar when the length is known, printing no plain lines', () => {
    const reporter = new MemoryReporter();
    let now = 0;
    const progress = createDownloadProgress(reporter, true, () => now);
    progress.start(4 * MIB);
    now += 6_000;
    progress.update(2 * MIB);
    progress.update(4 * MIB);
    progress.stop();
    progress.stop();
    expect(reporter.lines).to.deep.equal([]);
  });
});
