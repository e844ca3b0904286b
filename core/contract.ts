// The proxy's public contract: option names, defaults, IPC messages and exit codes.
// This is the only file of core/ that orchestrator/ may import, so it needs nothing but Node itself.
import { isIPv4 } from 'node:net';

/** Where Azure VM software expects IMDS. */
export const IMDS_ADDRESS = '169.254.169.254';
export const DEFAULT_LISTEN = `${IMDS_ADDRESS}:80`;
/** Where the Azure Connected Machine agent serves HIMDS. */
export const DEFAULT_HIMDS_URL = 'http://localhost:40342';
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 10_000;
/** How long a graceful stop may take before open connections are cut. */
export const SHUTDOWN_DEADLINE_MS = 3_000;

/** The one token resource dsregcmd /AzureSecureVMJoin asks for. */
export const ENTRA_DEVICE_REGISTRATION_RESOURCE = 'urn:ms-drs:enterpriseregistration.windows.net';

/** Where the Arc agent writes challenge key files (PROTOCOLS.md §2). */
export function defaultTokenDirectory(platform: NodeJS.Platform = process.platform): string {
  if (platform === 'win32') {
    const programData = process.env.ProgramData ?? 'C:\\ProgramData';
    return `${programData}\\AzureConnectedMachineAgent\\Tokens`;
  }
  return '/var/opt/azcmagent/tokens';
}

/** An http(s) URL's origin (HIMDS serves at its root, so IDENTITY_ENDPOINT's path is dropped); undefined when it is not one. */
export function himdsOrigin(value: string): string | undefined {
  try {
    const url = new URL(value.trim());
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Where HIMDS is when no --himds is given: IMDS_ENDPOINT, then IDENTITY_ENDPOINT's origin (the
 * Arc installer sets both), then the agent's default. Throws naming the variable when it is set
 * but not an http(s) URL: guessing would hide a misconfigured agent.
 */
export function himdsUrlFromEnvironment(env: NodeJS.ProcessEnv): string {
  for (const name of ['IMDS_ENDPOINT', 'IDENTITY_ENDPOINT'] as const) {
    const value = env[name]?.trim();
    if (!value) continue;
    const origin = himdsOrigin(value);
    if (origin === undefined) throw new Error(`${name} expects an http(s) URL such as ${DEFAULT_HIMDS_URL}, got "${value}"`);
    return origin;
  }
  return DEFAULT_HIMDS_URL;
}

/** "HOST:PORT" or "[IPv6]:PORT" (port 0: any free port); undefined when malformed. */
export function parseListenAddress(listen: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(listen.trim());
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (host === undefined || !Number.isInteger(port) || port > 65_535) return undefined;
  return { host, port };
}

/**
 * 127.0.0.0/8, ::1 (also bracketed, and IPv4-mapped — including the hex form URL parsing
 * produces, ::ffff:7f00:1) and localhost: traffic to them never leaves the machine. One rule
 * for the proxy's peer check and the orchestrator's listen and download hosts.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.trim().replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost' || bare === '::1' || bare === '0:0:0:0:0:0:0:1') return true;
  if (/^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(bare)) return true;
  const ipv4 = bare.startsWith('::ffff:') ? bare.slice('::ffff:'.length) : bare;
  return isIPv4(ipv4) && ipv4.startsWith('127.');
}

/** Everything the proxy process needs to run. */
export interface ProxyOptions {
  /** HOST:PORT; port 0 picks a free port and the real one is reported. */
  listen: string;
  /** Base URL of HIMDS, e.g. http://localhost:40342 */
  himdsUrl: string;
  /** Directory that challenge key files must live directly inside. */
  tokenDirectory: string;
  /** Token resources callers may ask for; empty means every resource. */
  allowedResources: string[];
  upstreamTimeoutMs: number;
  /** File the access log is appended to; absent means standard output. */
  accessLogFile?: string;
}

/** Command-line flags of the proxy process (and of `himdsproxy serve`). */
export const PROXY_FLAGS = {
  listen: 'listen',
  himdsUrl: 'himds',
  tokenDirectory: 'token-dir',
  allowedResources: 'allow-resource',
  upstreamTimeoutMs: 'upstream-timeout',
  accessLogFile: 'access-log',
} as const satisfies Record<keyof ProxyOptions, string>;

/** Builds the argument list that starts the proxy process with these options. */
export function proxyCommandLine(options: Partial<ProxyOptions>): string[] {
  const args: string[] = [];
  if (options.listen !== undefined) args.push(`--${PROXY_FLAGS.listen}`, options.listen);
  if (options.himdsUrl !== undefined) args.push(`--${PROXY_FLAGS.himdsUrl}`, options.himdsUrl);
  if (options.tokenDirectory !== undefined) args.push(`--${PROXY_FLAGS.tokenDirectory}`, options.tokenDirectory);
  for (const resource of options.allowedResources ?? []) args.push(`--${PROXY_FLAGS.allowedResources}`, resource);
  if (options.upstreamTimeoutMs !== undefined) args.push(`--${PROXY_FLAGS.upstreamTimeoutMs}`, String(options.upstreamTimeoutMs));
  if (options.accessLogFile !== undefined) args.push(`--${PROXY_FLAGS.accessLogFile}`, options.accessLogFile);
  return args;
}

/** Sent by the proxy process to its parent over the Node IPC channel. */
export type ProxyToParentMessage =
  | { type: 'ready'; url: string }
  | { type: 'fatal'; message: string; exitCode: number };

/** Sent by the parent to the proxy process. */
export type ParentToProxyMessage = { type: 'stop' };

export function isProxyToParentMessage(value: unknown): value is ProxyToParentMessage {
  if (typeof value !== 'object' || value === null) return false;
  const message = value as Record<string, unknown>;
  if (message.type === 'ready') return typeof message.url === 'string';
  if (message.type === 'fatal') return typeof message.message === 'string' && typeof message.exitCode === 'number';
  return false;
}

/** Exit codes of the proxy process. */
export const PROXY_EXIT_CODES = {
  ok: 0,
  internal: 1,
  usage: 2,
  /** The listen address is in use, not on this machine, or needs privileges. */
  cannotListen: 5,
} as const;

/**
 * Node options the proxy process is started with. A small young generation keeps its memory
 * near the idle size under load, with no loss of throughput (`npm run bench` shows both).
 */
export const PROXY_NODE_OPTIONS: readonly string[] = ['--max-semi-space-size=2'];

/** Name the proxy gives itself in the process list, so stale ones can be recognised. */
export const PROXY_PROCESS_TITLE = 'himdsproxy-core';
/** Sent in the Server header of every answer, so a probe can recognise a running himdsproxy. */
export const PROXY_SERVER_HEADER = 'himdsproxy';
