// The benchmark's pure report: ratios, the table and the verdict against the Go original's targets.
import { expect } from 'chai';
import { formatLoadTable, formatVerdict, ratio, type Measurements } from './report.js';

const figures = (operationsPerSecond: number) => ({ operationsPerSecond, p50Ms: 1, p99Ms: 2, failures: 0 });

describe('benchmark report', () => {
  const measurements: Measurements = {
    'instance:direct': figures(1000),
    'instance:proxied': figures(400),
    'token:direct': figures(1000),
    'token:proxied': figures(100),
  };

  it('computes proxied/direct per workload', () => {
    expect(ratio(measurements, 'instance')).to.equal(0.4);
    expect(ratio(measurements, 'token')).to.equal(0.1);
    expect(ratio({ 'instance:direct': figures(0), 'instance:proxied': figures(5) }, 'instance')).to.equal(undefined);
    expect(ratio({ 'instance:direct': figures(10) }, 'instance')).to.equal(undefined);
  });

  it('prints one row per workload and target with the ratio on the proxied row', () => {
    const lines = formatLoadTable(measurements).split('\n');
    expect(lines).to.have.length(5);
    expect(lines[2]).to.match(/proxied .* 0\.40x$/);
    expect(lines[4]).to.match(/proxied .* 0\.10x$/);
  });

  it('judges each target, and says n/a when a figure is missing', () => {
    const verdict = formatVerdict(measurements, { readyMs: [400, 100, 120], residentMiB: { rss: 90, peak: 95 } }).split('\n');
    expect(verdict[0]).to.match(/^MET /);
    expect(verdict[1]).to.match(/^MISS/);
    expect(verdict[2]).to.match(/^MET .* 120 ms median/);
    expect(verdict[3]).to.match(/^MISS/);
    expect(formatVerdict({}, undefined).split('\n').every((line) => line.startsWith('n/a'))).to.equal(true);
  });
});
