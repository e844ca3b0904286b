// The pure pieces around a join's ending: durations typed by users, exit-code mapping, the summary line.
import { expect } from 'chai';
import { formatDuration, parseDuration } from '../../orchestrator/duration.js';
import { EXIT_CODES, HimdsproxyError } from '../../orchestrator/errors.js';
import { outcomeFromError, summaryLine } from '../../orchestrator/join-outcome.js';
import { fixForHandlerErrorCode } from '../../orchestrator/steps/enable.js';

describe('durations', () => {
  const table: [string, number | undefined][] = [
    ['90', 90_000], ['90s', 90_000], ['10m', 600_000], ['1h', 3_600_000], ['500ms', 500], [' 2M ', 120_000], ['1.5s', 1_500],
    ['', undefined], ['soon', undefined], ['-5s', undefined], ['0', undefined], ['5 minutes', undefined], ['1e3', undefined], ['10d', undefined],
  ];
  for (const [text, expected] of table) {
    it(`${JSON.stringify(text)} → ${expected ?? 'not a duration'}`, () => expect(parseDuration(text)).to.equal(expected));
  }

  it('formats for people', () => {
    expect(formatDuration(12)).to.equal('12 ms');
    expect(formatDuration(1_234)).to.equal('1.2 s');
    expect(formatDuration(185_000)).to.equal('3 min 5 s');
  });
});

describe('join outcomes', () => {
  it('maps errors onto outcome kinds by exit code, never by message', () => {
    expect(outcomeFromError(new HimdsproxyError('x', EXIT_CODES.interrupted)).kind).to.equal('interrupted');
    expect(outcomeFromError(new HimdsproxyError('x', EXIT_CODES.timedOut)).kind).to.equal('timed-out');
    expect(outcomeFromError(new HimdsproxyError('timed out', EXIT_CODES.handlerError))).to.deep.equal({ kind: 'failed', exitCode: 6, message: 'timed out' });
    expect(outcomeFromError(new HimdsproxyError('x', EXIT_CODES.packageFailed, 'do y'))).to.include({ exitCode: 4, fix: 'do y' });
  });

  it('anything else is an internal error that asks for a bug report', () => {
    const outcome = outcomeFromError(new TypeError('undefined is not a function'));
    expect(outcome).to.include({ kind: 'failed', exitCode: EXIT_CODES.internal, message: 'Internal error: undefined is not a function' });
    expect(outcome.fix).to.match(/bug/);
  });

  it('knows the fixes for AADLoginForWindows error codes', () => {
    expect(fixForHandlerErrorCode(-2145648574)).to.match(/identity\/info/);
    expect(fixForHandlerErrorCode(-2145648607)).to.match(/enterpriseregistration\.windows\.net/);
    expect(fixForHandlerErrorCode(51)).to.match(/not supported/);
    expect(fixForHandlerErrorCode(12345)).to.equal(undefined);
    expect(fixForHandlerErrorCode(undefined)).to.equal(undefined);
  });

  it('one summary line: success names the log folder; failure what failed, the exit code, the fix and the log', () => {
    expect(summaryLine({ kind: 'joined', exitCode: 0, message: 'Successfully joined machine to AAD.' }, 2_200, '/w/Logs/himdsproxy/r1'))
      .to.equal('✔ Successfully joined machine to AAD. (2.2 s). Logs: /w/Logs/himdsproxy/r1');
    expect(summaryLine({ kind: 'failed', exitCode: 6, message: 'The handler reported an error (code 51): Unsupported OS.', fix: 'Upgrade' }, 700, '/w/join.log'))
      .to.equal('✖ The handler reported an error (code 51): Unsupported OS (exit 6 after 700 ms). Fix: Upgrade. A complete log of this run is in /w/join.log');
  });
});
