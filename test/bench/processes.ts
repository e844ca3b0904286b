// Spawning the benchmark's two server processes (emulator, proxy) with IPC, timing readiness, reading RSS.
import { execaNode, type ResultPromise } from 'execa';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { isProxyToParentMessage, PROXY_NODE_OPTIONS, proxyCommandLine, type ProxyOptions } from '../../core/contract.js';

export interface ServerProcess {
  url: string;
  pid: number;
  /** Milliseconds from spawn to the ready message. */
  readyMs: number;
  stop(): Promise<void>;
}

const CHILD_OPTIONS = { ipc: true, reject: false, stdout: 'ignore', stderr: 'pipe' } as const;
type IpcChild = ResultPromise<typeof CHILD_OPTIONS & { nodeOptions: string[] }>;

const STOP_GRACE_MS = 5000;

async function waitForReady(child: IpcChild, name: string): Promise<string> {
  const exited = child.then((result) => {
    throw new Error(`${name} exited before it was ready (exit ${result.exitCode}): ${String(result.stderr).slice(0, 1000)}`);
  });
  const ready = (async () => {
    for (;;) {
      const message: unknown = await child.getOneMessage();
      if (isProxyToParentMessage(message)) {
        if (message.type === 'ready') return message.url;
        throw new Error(`${name} failed to start: ${message.message}`);
      }
    }
  })();
  return Promise.race([ready, exited]);
}

async function stopChild(child: IpcChild): Promise<void> {
  if (child.exitCode !== null) return;
  await child.sendMessage({ type: 'stop' }).catch(() => undefined);
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await child;
  clearTimeout(timer);
}

async function startServerProcess(file: string, args: string[], nodeOptions: string[], name: string): Promise<ServerProcess> {
  const started = performance.now();
  const child = execaNode(file, args, { ...CHILD_OPTIONS, nodeOptions });
  try {
    const url = await waitForReady(child, name);
    const readyMs = performance.now() - started;
    return { url, pid: child.pid!, readyMs, stop: () => stopChild(child) };
  } catch (error) {
    child.kill('SIGKILL');
    await child;
    throw error;
  }
}

export function startEmulatorProcess(tokenDirectory: string): Promise<ServerProcess> {
  const file = fileURLToPath(new URL('./emulator-process.ts', import.meta.url));
  return startServerProcess(file, [tokenDirectory], ['--import', 'tsx'], 'HIMDS emulator');
}

/** The built proxy (dist/core/main.js), exactly as `join` launches it. */
export function startProxyProcess(mainFile: string, options: ProxyOptions): Promise<ServerProcess> {
  return startServerProcess(mainFile, proxyCommandLine(options), [...PROXY_NODE_OPTIONS], 'proxy');
}

/** Resident and peak resident memory in MiB, from /proc (Linux only; undefined elsewhere). */
export async function residentMemoryMiB(pid: number): Promise<{ rss: number; peak: number } | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  if (status === undefined) return undefined;
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}
