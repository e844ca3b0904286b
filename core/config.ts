// Command line and environment → ProxyOptions: the one place the proxy's configuration precedence lives.
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  DEFAULT_HIMDS_URL,
  DEFAULT_LISTEN,
  DEFAULT_UPSTREAM_TIMEOUT_MS,
  PROXY_FLAGS,
  defaultTokenDirectory,
  type ProxyOptions,
} from './contract.js';

/** The command line or environment is wrong; the process exits with the usage code. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface ListenAddress {
  host: string;
  port: number;
}

/** "HOST:PORT" or "[IPv6]:PORT"; port 0 means "any free port". */
export function parseListenAddress(listen: string): ListenAddress {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(listen.trim());
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (host === undefined || !Number.isInteger(port) || port > 65_535) {
    throw new UsageError(`--${PROXY_FLAGS.listen} expects HOST:PORT (e.g. 169.254.169.254:80 or [::1]:0), got "${listen}"`);
  }
  return { host, port };
}

/** An http(s) URL's origin; HIMDS serves at its root, so a path (IDENTITY_ENDPOINT has one) is dropped. */
function himdsOrigin(value: string, source: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${source} expects a URL such as ${DEFAULT_HIMDS_URL}, got "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${source} expects an http:// URL such as ${DEFAULT_HIMDS_URL}, got "${value}"`);
  }
  return url.origin;
}

/** --himds, then IMDS_ENDPOINT, then IDENTITY_ENDPOINT's origin, then the agent's default. */
function resolveHimdsUrl(flag: string | undefined, environment: NodeJS.ProcessEnv): string {
  if (flag !== undefined) return himdsOrigin(flag, `--${PROXY_FLAGS.himdsUrl}`);
  if (environment.IMDS_ENDPOINT) return himdsOrigin(environment.IMDS_ENDPOINT, 'IMDS_ENDPOINT');
  if (environment.IDENTITY_ENDPOINT) return himdsOrigin(environment.IDENTITY_ENDPOINT, 'IDENTITY_ENDPOINT');
  return DEFAULT_HIMDS_URL;
}

function parseTimeout(value: string | undefined): number {
  if (value === undefined) return DEFAULT_UPSTREAM_TIMEOUT_MS;
  const timeout = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(timeout) || timeout < 1) {
    throw new UsageError(`--${PROXY_FLAGS.upstreamTimeoutMs} expects a whole number of milliseconds above 0, got "${value}"`);
  }
  return timeout;
}

export function parseProxyArguments(argv: readonly string[], environment: NodeJS.ProcessEnv = process.env): ProxyOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        [PROXY_FLAGS.listen]: { type: 'string' },
        [PROXY_FLAGS.himdsUrl]: { type: 'string' },
        [PROXY_FLAGS.tokenDirectory]: { type: 'string' },
        [PROXY_FLAGS.allowedResources]: { type: 'string', multiple: true },
        [PROXY_FLAGS.upstreamTimeoutMs]: { type: 'string' },
        [PROXY_FLAGS.accessLogFile]: { type: 'string' },
      },
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const listen = (values[PROXY_FLAGS.listen] as string | undefined) ?? DEFAULT_LISTEN;
  parseListenAddress(listen);
  const tokenDirectory = (values[PROXY_FLAGS.tokenDirectory] as string | undefined) ?? defaultTokenDirectory();
  if (tokenDirectory.trim() === '') throw new UsageError(`--${PROXY_FLAGS.tokenDirectory} must not be empty`);
  const allowedResources = (values[PROXY_FLAGS.allowedResources] as string[] | undefined) ?? [];
  if (allowedResources.some((resource) => resource.trim() === '')) {
    throw new UsageError(`--${PROXY_FLAGS.allowedResources} must not be empty`);
  }
  const accessLogFile = values[PROXY_FLAGS.accessLogFile] as string | undefined;
  return {
    listen,
    himdsUrl: resolveHimdsUrl(values[PROXY_FLAGS.himdsUrl] as string | undefined, environment),
    tokenDirectory: path.resolve(tokenDirectory),
    allowedResources,
    upstreamTimeoutMs: parseTimeout(values[PROXY_FLAGS.upstreamTimeoutMs] as string | undefined),
    ...(accessLogFile !== undefined ? { accessLogFile: path.resolve(accessLogFile) } : {}),
  };
}
