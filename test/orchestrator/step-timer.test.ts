// timedStep: the lines a person sees for each step and the durations recorded for last-run.json.
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryReporter } from '../../orchestrator/reporter.js';
import { stepLine, timedStep } from '../../orchestrator/steps/step-timer.js';

describe('stepLine', () => {
  const cases: [Parameters<typeof stepLine>, string][] = [
    [['started', 'handler package'], '▶ handler package'],
    [['succeeded', 'handler package', 1234], '✔ handler package (1.2 s)'],
    [['succeeded', 'start the proxy', 180], '✔ start the proxy (180 ms)'],
    [['failed', 'handler enable', 185_000], '✖ handler enable (3 min 5 s)'],
  ];
  for (const [args, expected] of cases) {
    it(`${args.join(', ')} → ${expected}`, () => {
      expect(stepLine(...args)).to.equal(expected);
    });
  }
});

describe('timedStep', () => {
  it('logs start and success, returns the result and records a whole-millisecond duration', async () => {
    const reporter = new MemoryReporter();
    const durations: Record<string, number> = {};
    const result = await timedStep('configure', reporter, durations, async () => {
      await sleep(20);
      return 42;
    });
    expect(result).to.equal(42);
    expect(Object.keys(durations)).to.deep.equal(['configure']);
    expect(Number.isInteger(durations.configure)).to.equal(true);
    expect(durations.configure).to.be.at.least(15);
    expect(reporter.lines).to.deep.equal([
      { level: 'debug', message: '▶ configure' },
      { level: 'info', message: stepLine('succeeded', 'configure', durations.configure) },
    ]);
  });

  it('marks a failed step, records its duration and rethrows the very same error', async () => {
    const reporter = new MemoryReporter();
    const durations: Record<string, number> = {};
    const failure = new Error('the download was truncated');
    let caught: unknown;
    try {
      await timedStep('handler package', reporter, durations, async () => {
        throw failure;
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).to.equal(failure);
    expect(durations).to.have.property('handler package');
    const messages = reporter.lines.map((line) => line.message);
    expect(messages[0]).to.equal('▶ handler package');
    expect(messages[1]).to.match(/^✖ handler package \(\d+ ms\)$/);
    expect(reporter.lines.filter((line) => line.level === 'debug').map((line) => line.message)).to.deep.equal([
      '▶ handler package',
      'handler package failed: the download was truncated',
    ]);
  });

  it('copes with something thrown that is not an Error', async () => {
    const reporter = new MemoryReporter();
    let caught: unknown;
    try {
      await timedStep('odd', reporter, {}, () => Promise.reject('plain text'));
    } catch (error) {
      caught = error;
    }
    expect(caught).to.equal('plain text');
    expect(reporter.text()).to.include('odd failed: plain text');
  });
});
