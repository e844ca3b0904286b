// Turns the benchmark's figures into the printed table and the verdict against the Go original's targets.
import type { LoadFigures, Target, Workload } from './load.js';

/** What the original Go implementation reached on this kind of machine, and the other budgets (issue 2). */
export const TARGETS = {
  instanceRatio: 0.29,
  /** "About half" the instance ratio. */
  tokenRatio: 0.29 / 2,
  readyMs: 300,
  residentMiB: 80,
} as const;

export type Measurements = Partial<Record<`${Workload}:${Target}`, LoadFigures>>;

export interface ProcessFigures {
  readyMs: number[];
  /** Right after ready, before any load. */
  idleResidentMiB?: number;
  residentMiB?: { rss: number; peak: number };
}

const WORKLOAD_LABEL: Record<Workload, string> = { instance: '/metadata/instance', token: 'token (challenge)' };

function fixed(value: number | undefined, digits: number): string {
  return value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column < 2 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ')).join('\n');
}

export function ratio(measurements: Measurements, workload: Workload): number | undefined {
  const direct = measurements[`${workload}:direct`];
  const proxied = measurements[`${workload}:proxied`];
  if (direct === undefined || proxied === undefined || direct.operationsPerSecond === 0) return undefined;
  return proxied.operationsPerSecond / direct.operationsPerSecond;
}

export function formatLoadTable(measurements: Measurements): string {
  const rows = [['workload', 'target', 'ops/s', 'p50 ms', 'p99 ms', 'failures', 'proxied/direct']];
  for (const workload of ['instance', 'token'] as const) {
    for (const target of ['direct', 'proxied'] as const) {
      const figures = measurements[`${workload}:${target}`];
      rows.push([
        WORKLOAD_LABEL[workload],
        target,
        fixed(figures?.operationsPerSecond, 0),
        fixed(figures?.p50Ms, 2),
        fixed(figures?.p99Ms, 2),
        figures === undefined ? '-' : String(figures.failures),
        target === 'proxied' ? `${fixed(ratio(measurements, workload), 2)}x` : '',
      ]);
    }
  }
  return table(rows);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function verdict(met: boolean | undefined): string {
  return met === undefined ? 'n/a ' : met ? 'MET ' : 'MISS';
}

export function formatVerdict(measurements: Measurements, proxy: ProcessFigures | undefined): string {
  const instanceRatio = ratio(measurements, 'instance');
  const tokenRatio = ratio(measurements, 'token');
  const readyMedian = proxy === undefined ? undefined : median(proxy.readyMs);
  const rss = proxy?.residentMiB?.rss;
  const lines = [
    `${verdict(instanceRatio === undefined ? undefined : instanceRatio > TARGETS.instanceRatio)}  instance metadata throughput ${fixed(instanceRatio, 2)}x direct (Go original ${TARGETS.instanceRatio}x)`,
    `${verdict(tokenRatio === undefined ? undefined : tokenRatio > TARGETS.tokenRatio)}  token throughput ${fixed(tokenRatio, 2)}x direct (Go original about ${fixed(TARGETS.tokenRatio, 2)}x)`,
    `${verdict(readyMedian === undefined ? undefined : readyMedian < TARGETS.readyMs)}  spawn to ready ${fixed(readyMedian, 0)} ms median of ${proxy?.readyMs.map((ms) => ms.toFixed(0)).join(', ') ?? '-'} (target < ${TARGETS.readyMs} ms)`,
    `${verdict(rss === undefined ? undefined : rss < TARGETS.residentMiB)}  resident memory after load ${fixed(rss, 1)} MiB, peak ${fixed(proxy?.residentMiB?.peak, 1)} MiB, idle ${fixed(proxy?.idleResidentMiB, 1)} MiB (target < ${TARGETS.residentMiB} MB)`,
  ];
  return lines.join('\n');
}
