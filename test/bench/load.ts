// One measured load run with autocannon: instance metadata or a token, direct to HIMDS or through the proxy.
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

export const INSTANCE_PATH = '/metadata/instance?api-version=2021-02-01';
export const TOKEN_PATH = '/metadata/identity/oauth2/token?api-version=2020-06-01&resource=urn%3Ams-drs%3Aenterpriseregistration.windows.net';

export type Workload = 'instance' | 'token';
export type Target = 'direct' | 'proxied';

export interface LoadSettings {
  connections: number;
  durationSeconds: number;
}

export interface LoadFigures {
  /** Successful operations per second: one instance document, or one token (however many HTTP legs it took). */
  operationsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  failures: number;
}

type Request = autocannon.Request;
interface TimingContext {
  startedAt?: number;
  authorization?: string;
}

/**
 * Latency is timed here rather than read from autocannon's histogram, which keeps whole
 * milliseconds: an operation runs from its first request being written (setupRequest runs
 * right before the write) to its last answer. A token straight from HIMDS is two legs
 * (challenge, then the key file's contents, read as an official client does); through the
 * proxy, and for instance metadata, it is one.
 */
function timedRequests(workload: Workload, target: Target, latencies: number[]): Request[] {
  const start = (request: Request, context: object): Request => {
    (context as TimingContext).startedAt = performance.now();
    return request;
  };
  const finish = (status: number, _body: string, context: object): void => {
    const started = (context as TimingContext).startedAt;
    if (status === 200 && started !== undefined) latencies.push(performance.now() - started);
  };
  const path = workload === 'instance' ? INSTANCE_PATH : TOKEN_PATH;
  if (workload === 'instance' || target === 'proxied') {
    return [{ method: 'GET', path, setupRequest: start, onResponse: finish }];
  }
  return [
    {
      method: 'GET',
      path,
      setupRequest: start,
      onResponse: (_status, _body, context, headers) => {
        const challenge = String(headers?.['www-authenticate'] ?? headers?.['WWW-Authenticate'] ?? '');
        const realm = challenge.startsWith('Basic realm=') ? challenge.slice('Basic realm='.length) : '';
        (context as TimingContext).authorization = realm === '' ? 'Basic none' : `Basic ${readFileSync(realm, 'utf8')}`;
      },
    },
    {
      method: 'GET',
      path,
      setupRequest: (request, context) => ({
        ...request,
        headers: { ...request.headers, Authorization: (context as TimingContext).authorization ?? '' },
      }),
      onResponse: finish,
    },
  ];
}

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

export async function runLoad(baseUrl: string, workload: Workload, target: Target, settings: LoadSettings): Promise<LoadFigures> {
  const latencies: number[] = [];
  const result = await autocannon({
    url: baseUrl,
    connections: settings.connections,
    duration: settings.durationSeconds,
    headers: { Metadata: 'true' },
    requests: timedRequests(workload, target, latencies),
  });
  // Direct tokens are answered 401 on purpose on every first leg; any other non-200 is a failure.
  const expectedStatuses = workload === 'token' && target === 'direct' ? ['200', '401'] : ['200'];
  const unexpectedAnswers = Object.entries(result.statusCodeStats ?? {})
    .filter(([status]) => !expectedStatuses.includes(status))
    .reduce((sum, [, stats]) => sum + (stats.count ?? 0), 0);
  latencies.sort((a, b) => a - b);
  return {
    operationsPerSecond: result['2xx'] / result.duration,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    failures: unexpectedAnswers + result.errors + result.timeouts,
  };
}
