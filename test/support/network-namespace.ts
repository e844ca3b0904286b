// Runs a command inside a fresh, private network namespace (unshare --net) with only `lo`, brought up.
// Addresses added there (169.254.169.254 on lo) vanish with the namespace: the host is never touched.
import { execa } from 'execa';

export interface NamespaceRunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface NamespaceRunOptions {
  /** Added to this process's environment. */
  env?: Record<string, string>;
  timeoutMs?: number;
  cwd?: string;
}

/** As root a plain network namespace; otherwise also a user namespace mapping us to root inside it. */
function unshareArguments(): string[] {
  return process.getuid?.() === 0 ? ['--net'] : ['--user', '--map-root-user', '--net'];
}

/** `sh -c` brings lo up, then execs the command with its arguments passed through untouched ("$@"). */
export async function runInNetworkNamespace(
  command: string,
  args: string[],
  options: NamespaceRunOptions = {},
): Promise<NamespaceRunResult> {
  const result = await execa('unshare', [...unshareArguments(), '--', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', command, ...args], {
    reject: false,
    timeout: options.timeoutMs ?? 60_000,
    stdin: 'ignore',
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  return {
    exitCode: result.exitCode ?? -1,
    stdout: typeof result.stdout === 'string' ? result.stdout : '',
    stderr: typeof result.stderr === 'string' ? result.stderr : (result.originalMessage ?? ''),
    timedOut: result.timedOut,
  };
}

let probe: Promise<{ ok: boolean; reason?: string }> | undefined;

/** Tries it for real once per process (Linux, unshare, iproute2, permission to create namespaces). */
export function canCreateNetworkNamespace(): Promise<{ ok: boolean; reason?: string }> {
  probe ??= (async () => {
    if (process.platform !== 'linux') return { ok: false, reason: `network namespaces need Linux, this is ${process.platform}` };
    const result = await runInNetworkNamespace('ip', ['-j', 'address', 'show', 'dev', 'lo'], { timeoutMs: 10_000 });
    if (result.exitCode === 0 && result.stdout.includes('"UP"')) return { ok: true };
    const why = (result.stderr || result.stdout).split('\n').find((line) => line.trim() !== '') ?? `exit code ${result.exitCode}`;
    return { ok: false, reason: `cannot create a private network namespace with unshare: ${why.trim()}` };
  })();
  return probe;
}
