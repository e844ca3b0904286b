#!/usr/bin/env node
// The process entry of `himdsproxy`: wires signals to the commands and is the only place that exits.
import { runCli } from './commands/program.js';
import { EXIT_CODES } from './errors.js';

const interruption = new AbortController();
let interruptions = 0;
function onInterrupt(): void {
  interruptions += 1;
  if (interruptions === 1) {
    process.stderr.write('\nInterrupted: cleaning up before exiting…\n');
    interruption.abort();
  } else {
    process.stderr.write('Still cleaning up; please wait, so that nothing (proxy, address) is left behind.\n');
  }
}
// SIGHUP: the terminal went away (on Windows: the console window was closed, which leaves a few
// seconds to clean up). SIGBREAK: Ctrl+Break on Windows. Each one still stops the proxy and removes the address.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const) process.on(signal, onInterrupt);

try {
  const exitCode = await runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    signal: interruption.signal,
  });
  process.exit(exitCode);
} catch (error) {
  process.stderr.write(`himdsproxy: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(EXIT_CODES.internal);
}
