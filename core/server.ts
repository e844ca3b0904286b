// Runs the proxy app on a real socket: listen, report the real URL, and stop gracefully within a deadline.
import { getRequestListener } from '@hono/node-server';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { JsonLinesAccessLog, wasLoggedByApp, type AccessLog } from './access-log.js';
import { HimdsApiVersions } from './api-versions.js';
import { createProxyApp } from './app.js';
import { parseListenAddress } from './config.js';
import { SHUTDOWN_DEADLINE_MS, type ProxyOptions } from './contract.js';
import { HimdsClient } from './himds-client.js';
import { ImdsProblem, problemResponse } from './imds-errors.js';
import { createLocalPeerCheck } from './local-peer.js';
import { loggablePath } from './request-target.js';

export interface RunningProxy {
  /** e.g. http://127.0.0.1:43123 — the real port when asked for port 0. */
  url: string;
  /** Stops accepting, lets requests in flight finish within SHUTDOWN_DEADLINE_MS, then cuts the rest. */
  close(): Promise<void>;
}

/** Binding failed; `code` is Node's (EADDRINUSE, EACCES, EADDRNOTAVAIL…), the message one line. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const LISTEN_PROBLEM_BY_CODE: Record<string, string> = {
  EADDRINUSE: 'address in use (another program, or another himdsproxy, listens there)',
  EACCES: 'permission denied (ports below 1024 need Administrator/root)',
  EADDRNOTAVAIL: 'address not available (it is not assigned to this machine)',
};

export function formatHostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export interface ProxyServerExtras {
  /** Replaces the access log the options describe (tests). */
  accessLog?: AccessLog;
  reportInternalError?: (error: unknown) => void;
  shutdownDeadlineMs?: number;
}

export async function startProxyServer(options: ProxyOptions, extras: ProxyServerExtras = {}): Promise<RunningProxy> {
  const { host, port } = parseListenAddress(options.listen);
  const accessLog = extras.accessLog ?? new JsonLinesAccessLog(options.accessLogFile);
  const app = createProxyApp({
    himds: new HimdsClient({ baseUrl: options.himdsUrl, timeoutMs: options.upstreamTimeoutMs }),
    apiVersions: new HimdsApiVersions(),
    tokenDirectory: options.tokenDirectory,
    allowedResources: options.allowedResources,
    accessLog,
    isLocalPeer: createLocalPeerCheck(),
    ...(extras.reportInternalError ? { reportInternalError: extras.reportInternalError } : {}),
  });

  // Targets Node's URL parser refuses (a backslash in the path) never reach the app; answer them alike.
  const refusedTarget = () =>
    problemResponse(new ImdsProblem(400, 'The request path contains characters, encodings or segments that are not allowed'), 'general');
  const listener = getRequestListener(app.fetch, { errorHandler: refusedTarget });

  const server = createServer((incoming: IncomingMessage, outgoing: ServerResponse) => {
    const startedAt = performance.now();
    outgoing.once('finish', () => {
      if (wasLoggedByApp(incoming)) return;
      accessLog.record({
        time: new Date().toISOString(),
        peer: incoming.socket.remoteAddress ?? 'unknown',
        method: incoming.method ?? '',
        path: loggablePath(incoming.url ?? ''),
        status: outgoing.statusCode,
        reason: 'request target refused before routing',
        durationMs: Math.round((performance.now() - startedAt) * 10) / 10,
      });
    });
    void listener(incoming, outgoing);
  });
  // Tokens are small and callers are local: a slow or stuck client is cut, not waited for.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;

  await listen(server, host, port, options.listen);
  const address = server.address();
  const boundPort = typeof address === 'object' && address !== null ? address.port : port;
  const url = `http://${formatHostForUrl(host)}:${boundPort}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    close: () => (closing ??= stopServer(server, extras.shutdownDeadlineMs ?? SHUTDOWN_DEADLINE_MS).finally(() => accessLog.close())),
  };
}

function listen(server: Server, host: string, port: number, listenText: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const code = error.code ?? 'UNKNOWN';
      const problem = LISTEN_PROBLEM_BY_CODE[code] ?? error.message;
      reject(new ListenError(code, `Cannot listen on ${listenText}: ${problem}`, { cause: error }));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port, exclusive: true });
  });
}

/** Graceful first: idle keep-alive sockets go at once, busy ones may finish until the deadline. */
function stopServer(server: Server, deadlineMs: number): Promise<void> {
  return new Promise((resolve) => {
    const deadline = setTimeout(() => server.closeAllConnections(), deadlineMs);
    server.close(() => {
      clearTimeout(deadline);
      resolve();
    });
    server.closeIdleConnections();
  });
}
