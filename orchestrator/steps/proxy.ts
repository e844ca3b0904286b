// Step 4: start the proxy core as a child process, wait until it serves, and stop it as a whole.
import { execaNode } from 'execa';
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  isProxyToParentMessage,
  proxyCommandLine,
  SHUTDOWN_DEADLINE_MS,
  type ParentToProxyMessage,
  type ProxyOptions,
} from '../../core/contract.js';
import { EXIT_CODES, HimdsproxyError } from '../errors.js';
import { defaultProxyProgram, type ProxyProgram } from '../proxy-entry-point.js';
import { clearProxyFromPidFile, updateProxyPidFile } from '../proxy-pid-file.js';
import type { Reporter } from '../reporter.js';

export { clearAddressFromPidFile, recordAddressInPidFile } from '../proxy-pid-file.js';

export interface ProxyLaunchOptions extends Partial<ProxyOptions> {
  listen: string;
}

export interface ProxyExit {
  exitCode: number | undefined;
  signal: string | undefined;
  /** What the proxy said when it gave up, if it said anything. */
  fatalMessage?: string;
}

export interface LaunchedProxy {
  url: string;
  pid: number;
  /** Resolves when the process is gone; tells how it ended. */
  exited: Promise<ProxyExit>;
  /** Graceful stop (IPC stop message), then SIGKILL after a deadline; idempotent; resolves when gone. */
  stop(): Promise<void>;
}

export interface ProxyLaunchSettings {
  /** How long the proxy may take to say it is ready. Default 10 s. */
  readyTimeoutMs?: number;
  /** The proxy's standard output and error are appended here. */
  stderrLog?: string;
  /** Pid file for crash recovery (coordinationPaths().proxyPidFile). */
  pidFile?: string;
  /** How long a graceful stop may take before SIGKILL. Default SHUTDOWN_DEADLINE_MS + 2 s. */
  stopDeadlineMs?: number;
  /** Where the proxy's own output is shown as it arrives (`serve` passes its terminal). */
  outputTo?: { stdout: { write(text: string): unknown }; stderr: { write(text: string): unknown } };
  /** Another program speaking the same IPC contract (tests). Default: this copy's core/main. */
  program?: ProxyProgram & { env?: Record<string, string> };
}

export const DEFAULT_READY_TIMEOUT_MS = 10_000;
/** The proxy closes its connections after SHUTDOWN_DEADLINE_MS; give it a little longer to exit. */
export const DEFAULT_STOP_DEADLINE_MS = SHUTDOWN_DEADLINE_MS + 2_000;
const STDERR_TAIL_LINES = 15;

/**
 * Starts the proxy and resolves once it reports ready. On any other outcome (it reports a
 * fatal error, exits, or stays silent past the timeout) the process is stopped and a
 * HimdsproxyError(proxyFailed) says why, with the last lines of its error output.
 */
export async function launchProxy(
  options: ProxyLaunchOptions,
  reporter: Reporter,
  settings: ProxyLaunchSettings = {},
): Promise<LaunchedProxy> {
  const program: NonNullable<ProxyLaunchSettings['program']> = settings.program ?? defaultProxyProgram();
  const readyTimeoutMs = settings.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const stopDeadlineMs = settings.stopDeadlineMs ?? DEFAULT_STOP_DEADLINE_MS;
  const args = proxyCommandLine(options);
  reporter.debug(`Starting the proxy: node ${[...program.nodeOptions, program.file, ...args].join(' ')}`);

  const output = new OutputKeeper(settings.stderrLog);
  const subprocess = execaNode(program.file, args, {
    nodeOptions: program.nodeOptions,
    ipc: true,
    serialization: 'json',
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    reject: false,
    // Kill it if this process exits without stopping it (execa's exit hook).
    cleanup: true,
    ...(program.env ? { env: program.env } : {}),
  });
  subprocess.stdout.on('data', (chunk: Buffer) => {
    output.add(chunk, false);
    settings.outputTo?.stdout.write(chunk.toString('utf8'));
  });
  subprocess.stderr.on('data', (chunk: Buffer) => {
    output.add(chunk, true);
    settings.outputTo?.stderr.write(chunk.toString('utf8'));
  });

  let fatalMessage: string | undefined;
  let onReady: ((url: string) => void) | undefined;
  let onFatal: ((message: string, exitCode: number) => void) | undefined;
  subprocess.on('message', (message: unknown) => {
    if (!isProxyToParentMessage(message)) {
      reporter.debug(`The proxy sent an unknown message: ${JSON.stringify(message)?.slice(0, 200)}`);
      return;
    }
    if (message.type === 'ready') onReady?.(message.url);
    else {
      fatalMessage = message.message;
      onFatal?.(message.message, message.exitCode);
    }
  });

  const pid = subprocess.pid;
  const pidFile = settings.pidFile;
  const startedAt = new Date().toISOString();
  // Updates run one after another, so a proxy that dies at once cannot leave its pid behind.
  let pidFileUpdates = Promise.resolve();
  const updatePidFile = (update: (file: string) => Promise<void>): Promise<void> => {
    if (!pidFile) return Promise.resolve();
    const next = pidFileUpdates.then(() => update(pidFile));
    pidFileUpdates = next.catch(() => undefined);
    return next;
  };

  const exited: Promise<ProxyExit> = subprocess.then(async (result) => {
    output.close();
    await updatePidFile(clearProxyFromPidFile).catch((error: unknown) => reporter.warn(`Could not update ${pidFile}: ${(error as Error).message}`));
    const exit: ProxyExit = { exitCode: result.exitCode, signal: result.signal };
    if (fatalMessage !== undefined) exit.fatalMessage = fatalMessage;
    reporter.debug(`The proxy (pid ${pid ?? '?'}) ended: ${describeExit(exit)}`);
    return exit;
  });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= stopGracefully();
    return stopping;
  };
  async function stopGracefully(): Promise<void> {
    if (subprocess.exitCode === null && subprocess.signalCode === null) {
      const asked = await askToStop();
      if (!asked) subprocess.kill('SIGTERM');
      const gone = await Promise.race([exited.then(() => true), delay(stopDeadlineMs).then(() => false)]);
      if (!gone) {
        reporter.warn(`The proxy (pid ${pid ?? '?'}) did not stop within ${stopDeadlineMs} ms; killing it`);
        subprocess.kill('SIGKILL');
      }
    }
    await exited;
  }
  async function askToStop(): Promise<boolean> {
    if (!subprocess.connected) return false;
    const message: ParentToProxyMessage = { type: 'stop' };
    try {
      await subprocess.sendMessage(message);
      return true;
    } catch {
      return false;
    }
  }

  if (pid === undefined) {
    const exit = await exited;
    throw launchFailure(`The proxy could not be started (${describeExit(exit)})`, output);
  }
  reporter.debug(`Started the proxy (pid ${pid})`);
  try {
    await updatePidFile((file) => updateProxyPidFile(file, { pid, listen: options.listen, startedAt }));
  } catch (error) {
    // Without its pid on record a crash of this run would leave the proxy unnoticed: don't run it.
    await stop();
    throw new HimdsproxyError(
      `Could not record the proxy in ${pidFile}: ${(error as Error).message}`,
      EXIT_CODES.proxyFailed,
      'Check that the work folder is writable',
      { cause: error },
    );
  }

  type Outcome = { kind: 'ready'; url: string } | { kind: 'fatal'; message: string; exitCode: number } | { kind: 'exited'; exit: ProxyExit } | { kind: 'timeout' };
  let timer: NodeJS.Timeout | undefined;
  const outcome = await new Promise<Outcome>((resolve) => {
    onReady = (url) => resolve({ kind: 'ready', url });
    onFatal = (message, exitCode) => resolve({ kind: 'fatal', message, exitCode });
    void exited.then((exit) => resolve({ kind: 'exited', exit }));
    timer = setTimeout(() => resolve({ kind: 'timeout' }), readyTimeoutMs);
  });
  clearTimeout(timer);
  onReady = undefined;
  onFatal = undefined;

  if (outcome.kind === 'ready') {
    await updatePidFile((file) => updateProxyPidFile(file, { url: outcome.url }));
    reporter.debug(`The proxy (pid ${pid}) is ready at ${outcome.url}`);
    return { url: outcome.url, pid, exited, stop };
  }

  await stop();
  const exit = await exited;
  switch (outcome.kind) {
    case 'fatal':
      throw launchFailure(`The proxy failed to start: ${outcome.message} (exit code ${exit.exitCode ?? outcome.exitCode})`, output);
    case 'exited':
      throw launchFailure(`The proxy exited before it was ready (${describeExit(exit)})`, output);
    case 'timeout':
      throw launchFailure(`The proxy did not report ready within ${readyTimeoutMs} ms; it was stopped`, output);
  }
}

function launchFailure(message: string, output: OutputKeeper): HimdsproxyError {
  const tail = output.stderrTail();
  const detail = tail ? `\nLast lines of its error output:\n${tail}` : '';
  const fix = output.logFile
    ? `See ${output.logFile}; check that the listen address is free and on this machine`
    : 'Check that the listen address is free and on this machine';
  return new HimdsproxyError(`${message}${detail}`, EXIT_CODES.proxyFailed, fix);
}

function describeExit(exit: ProxyExit): string {
  const parts = [exit.exitCode === undefined ? 'no exit code' : `exit code ${exit.exitCode}`];
  if (exit.signal) parts.push(`signal ${exit.signal}`);
  if (exit.fatalMessage) parts.push(exit.fatalMessage);
  return parts.join(', ');
}

function delay(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds).unref());
}

/** Appends the proxy's output to a log file as it arrives and keeps the last lines of its stderr for error messages. */
class OutputKeeper {
  private readonly lines: string[] = [];
  private partialLine = '';
  private open = true;

  constructor(readonly logFile: string | undefined) {
    if (logFile) mkdirSync(dirname(logFile), { recursive: true });
  }

  add(chunk: Buffer, isStderr: boolean): void {
    const text = chunk.toString('utf8');
    if (this.logFile && this.open) {
      try {
        appendFileSync(this.logFile, text);
      } catch {
        // A full disk must not take the proxy down with it; the tail is still kept in memory.
      }
    }
    if (!isStderr) return;
    const pieces = (this.partialLine + text).split(/\r?\n/);
    this.partialLine = pieces.pop() ?? '';
    this.lines.push(...pieces.filter((line) => line.trim() !== ''));
    if (this.lines.length > STDERR_TAIL_LINES) this.lines.splice(0, this.lines.length - STDERR_TAIL_LINES);
  }

  close(): void {
    this.open = false;
  }

  stderrTail(): string {
    const lines = this.partialLine.trim() ? [...this.lines, this.partialLine] : this.lines;
    return lines.slice(-STDERR_TAIL_LINES).map((line) => `  ${line.slice(0, 500)}`).join('\n');
  }
}
