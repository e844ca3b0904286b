// Command line and environment → ProxyOptions: the one place the proxy's configuration precedence lives.
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  DEFAULT_HIMDS_URL,
  DEFAULT_LISTEN,
  DEFAULT_UPSTREAM_TIMEOUT_MS,
  PROXY_FLAGS,
  defaultTokenDirectory,
  himdsOrigin,
  himdsUrlFromEnvironment,
  parseListenAddress as parseListenText,
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
  const address = parseListenText(listen);
  if (address === undefined) {
    throw new UsageError(`--${PROXY_FLAGS.listen} expects HOST:PORT (e.g. 169.254.169.254:80 or [::1]:0), got "${listen}"`);
  }
  return address;
}

/** --himds, then the agent's environment variables (contract.ts), then the agent's default. */
function resolveHimdsUrl(flag: string | undefined, environment: NodeJS.ProcessEnv): string {
  if (flag !== undefined) {
    const origin = himdsOrigin(flag);
    if (origin === undefined) throw new UsageError(`--${PROXY_FLAGS.himdsUrl} expects an http(s) URL such as ${DEFAULT_HIMDS_URL}, got "${flag}"`);
    return origin;
  }
  try {
    return himdsUrlFromEnvironment(environment);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
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
