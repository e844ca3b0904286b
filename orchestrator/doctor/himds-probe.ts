// Doctor's look at HIMDS: instance metadata and a DRS token through a short-lived proxy on 127.0.0.1:0.
import { ENTRA_DEVICE_REGISTRATION_RESOURCE } from '../../core/contract.js';
import type { HimdsProbeResult } from './context.js';

/** Where the probe stopped; the HIMDS check picks its advice from this, never from message text. */
export type HimdsProbeStage = 'proxy' | 'unreachable' | 'metadata';

export class HimdsProbeError extends Error {
  override readonly name = 'HimdsProbeError';
  constructor(
    message: string,
    readonly stage: HimdsProbeStage,
    /** HTTP status the proxy answered with, when it answered. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The part of launchProxy (steps/proxy.ts) the probe needs. */
export interface ProbeProxyLauncher {
  (options: {
    listen: string;
    himdsUrl: string;
    tokenDirectory: string;
    allowedResources: string[];
    upstreamTimeoutMs: number;
  }): Promise<{ url: string; stop(): Promise<void> }>;
}

export interface HimdsProbeOptions {
  himdsUrl: string;
  tokenDirectory: string;
  /** Per request; the proxy answers a quick 5xx when HIMDS is down, so this only guards a hang. */
  requestTimeoutMs?: number;
}

/** The newest api-version HIMDS is known to accept (PROTOCOLS.md §2). */
const INSTANCE_PATH = '/metadata/instance?api-version=2021-02-01';
const TOKEN_PATH = `/metadata/identity/oauth2/token?api-version=2021-02-01&resource=${encodeURIComponent(ENTRA_DEVICE_REGISTRATION_RESOURCE)}`;
/** Statuses a proxy answers with when it cannot get an answer from HIMDS at all. */
const UPSTREAM_UNAVAILABLE = new Set([502, 503, 504]);

export async function probeHimdsThroughProxy(launch: ProbeProxyLauncher, options: HimdsProbeOptions): Promise<HimdsProbeResult> {
  const requestTimeoutMs = options.requestTimeoutMs ?? 15_000;
  let proxy: { url: string; stop(): Promise<void> };
  try {
    proxy = await launch({
      listen: '127.0.0.1:0',
      himdsUrl: options.himdsUrl,
      tokenDirectory: options.tokenDirectory,
      allowedResources: [ENTRA_DEVICE_REGISTRATION_RESOURCE],
      upstreamTimeoutMs: Math.min(requestTimeoutMs, 10_000),
    });
  } catch (error) {
    throw new HimdsProbeError(`The probe proxy did not start: ${messageOf(error)}`, 'proxy', undefined, { cause: error });
  }
  try {
    const instance = await getThroughProxy(proxy.url, INSTANCE_PATH, requestTimeoutMs);
    if (instance.status !== 200) {
      const stage = UPSTREAM_UNAVAILABLE.has(instance.status) ? 'unreachable' : 'metadata';
      throw new HimdsProbeError(`Instance metadata: HTTP ${instance.status}${describeErrorBody(instance.body)}`, stage, instance.status);
    }
    const summary = summariseInstanceMetadata(instance.body);
    const token = await getThroughProxy(proxy.url, TOKEN_PATH, requestTimeoutMs);
    if (token.status === 200 && hasAccessToken(token.body)) return { ...summary, tokenObtained: true };
    const tokenFailure = token.status === 200
      ? 'HTTP 200 without an access_token'
      : `HTTP ${token.status}${describeErrorBody(token.body)}`;
    return { ...summary, tokenObtained: false, tokenFailure };
  } finally {
    await proxy.stop();
  }
}

/** machine name, resource group and location from /metadata/instance; "" where missing. */
export function summariseInstanceMetadata(body: unknown): Omit<HimdsProbeResult, 'tokenObtained'> {
  const compute = isRecord(body) && isRecord(body.compute) ? body.compute : undefined;
  if (!compute) throw new HimdsProbeError('Instance metadata: expected JSON with a "compute" object', 'metadata', 200);
  const text = (value: unknown): string => (typeof value === 'string' ? value : '');
  return {
    machineName: text(compute.name),
    resourceGroup: text(compute.resourceGroupName),
    location: text(compute.location),
  };
}

async function getThroughProxy(baseUrl: string, path: string, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  let response: Response;
  try {
    response = await fetch(new URL(path, baseUrl), { headers: { Metadata: 'true' }, signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw new HimdsProbeError(`No answer from the probe proxy for ${path.split('?')[0]}: ${messageOf(error)}`, 'unreachable', undefined, { cause: error });
  }
  const text = await response.text();
  let body: unknown = undefined;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: callers report the status; the body may hold anything and is not echoed.
  }
  return { status: response.status, body };
}

function hasAccessToken(body: unknown): boolean {
  return isRecord(body) && typeof body.access_token === 'string' && body.access_token.length > 0;
}

/** ": <error>: <error_description>" from an IMDS-shaped error body; never other fields, so no token can leak. */
function describeErrorBody(body: unknown): string {
  if (!isRecord(body)) return '';
  const parts = [body.error, body.error_description]
    .filter((part): part is string => typeof part === 'string' && part.length > 0)
    .map((part) => part.slice(0, 300));
  return parts.length > 0 ? `: ${parts.join(': ')}` : '';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** undici says only "fetch failed" and keeps the reason (ECONNREFUSED …) in cause. */
function messageOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
  return `${error.message}${cause}`;
}
