// The proxy process entry: parse arguments, serve, report readiness, stop on signal or parent request. The only exit point of core/.
import { parseProxyArguments, UsageError } from './config.js';
import {
  PROXY_EXIT_CODES,
  PROXY_PROCESS_TITLE,
  SHUTDOWN_DEADLINE_MS,
  type ParentToProxyMessage,
  type ProxyToParentMessage,
} from './contract.js';
import { ListenError, startProxyServer, type RunningProxy } from './server.js';

function sendToParent(message: ProxyToParentMessage): void {
  if (process.send && process.connected) process.send(message);
}

function isStopMessage(value: unknown): value is ParentToProxyMessage {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'stop';
}

/** Only a name and message ever reach stderr: a cause chain could carry a request's secrets. */
function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Resolves with the exit code once the proxy has stopped (or could not start). */
async function run(argv: readonly string[]): Promise<number> {
  let options;
  try {
    options = parseProxyArguments(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`himdsproxy: ${error.message}\n`);
    sendToParent({ type: 'fatal', message: error.message, exitCode: PROXY_EXIT_CODES.usage });
    return PROXY_EXIT_CODES.usage;
  }

  let proxy: RunningProxy;
  try {
    proxy = await startProxyServer(options, {
      reportInternalError: (error) => process.stderr.write(`himdsproxy: internal error: ${describe(error)}\n`),
    });
  } catch (error) {
    if (!(error instanceof ListenError)) throw error;
    process.stderr.write(`${error.message}\n`);
    sendToParent({ type: 'fatal', message: error.message, exitCode: PROXY_EXIT_CODES.cannotListen });
    return PROXY_EXIT_CODES.cannotListen;
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      // Should close() itself hang, the deadline still ends the process.
      setTimeout(() => resolve(PROXY_EXIT_CODES.ok), SHUTDOWN_DEADLINE_MS + 1_000).unref();
      void proxy.close().then(() => resolve(PROXY_EXIT_CODES.ok));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (process.send) {
      process.on('message', (message) => {
        if (isStopMessage(message)) stop();
      });
      // The parent died or let go: a proxy nobody controls must not keep serving tokens.
      process.once('disconnect', stop);
      sendToParent({ type: 'ready', url: proxy.url });
    } else {
      process.stdout.write(`listening on ${proxy.url}\n`);
    }
  });
}

process.title = PROXY_PROCESS_TITLE;
run(process.argv.slice(2)).then(
  (exitCode) => {
    if (process.connected) process.disconnect();
    process.exit(exitCode);
  },
  (error: unknown) => {
    process.stderr.write(`himdsproxy: internal error: ${describe(error)}\n`);
    sendToParent({ type: 'fatal', message: describe(error), exitCode: PROXY_EXIT_CODES.internal });
    process.exit(PROXY_EXIT_CODES.internal);
  },
);
