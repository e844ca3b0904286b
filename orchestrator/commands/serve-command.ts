// `himdsproxy serve`: the proxy alone, in the foreground, until Ctrl+C or SIGTERM.
import { resolve } from 'node:path';
import { defaultTokenDirectory } from '../../core/contract.js';
import { himdsUrlFor } from './himds-url.js';
import { EXIT_CODES } from '../errors.js';
import { RunLogReporter } from '../reporter.js';
import { launchProxy } from '../steps/proxy.js';
import type { CliIo } from './program.js';

export interface ServeArguments {
  listen: string;
  himds?: string;
  tokenDir?: string;
  allowResource?: string[];
  upstreamTimeout: number;
  accessLog?: string;
}

export async function runServeCommand(argv: ServeArguments, io: CliIo): Promise<number> {
  const reporter = new RunLogReporter(undefined, io.stderr);
  const proxy = await launchProxy(
    {
      listen: argv.listen,
      himdsUrl: himdsUrlFor(argv.himds, io.env),
      tokenDirectory: argv.tokenDir ? resolve(io.cwd, argv.tokenDir) : defaultTokenDirectory(),
      allowedResources: argv.allowResource ?? [],
      upstreamTimeoutMs: argv.upstreamTimeout,
      ...(argv.accessLog ? { accessLogFile: resolve(io.cwd, argv.accessLog) } : {}),
    },
    reporter,
    { outputTo: { stdout: io.stdout, stderr: io.stderr } },
  );
  io.stdout.write(`listening on ${proxy.url}\n`);

  const stoppedByUser = new Promise<'stop'>((resolveStop) => {
    if (io.signal.aborted) resolveStop('stop');
    io.signal.addEventListener('abort', () => resolveStop('stop'), { once: true });
  });
  const ending = await Promise.race([stoppedByUser, proxy.exited]);
  if (ending === 'stop') {
    await proxy.stop();
    return EXIT_CODES.ok;
  }
  reporter.error(`The proxy stopped by itself (exit code ${ending.exitCode ?? 'none'}${ending.signal ? `, signal ${ending.signal}` : ''})`);
  return ending.exitCode && ending.exitCode !== 0 ? EXIT_CODES.proxyFailed : EXIT_CODES.ok;
}
