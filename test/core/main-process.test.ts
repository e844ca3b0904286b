// core/main.ts as a real child process: readiness over IPC or stdout, stopping, bind and usage failures.
import { expect } from 'chai';
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROXY_EXIT_CODES, PROXY_PROCESS_TITLE, isProxyToParentMessage, proxyCommandLine, type ProxyToParentMessage } from '../../core/contract.js';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MAIN = join(projectRoot, 'core', 'main.ts');
const NODE_OPTIONS = ['--import', 'tsx'];

/** Collects a child's output and its exit, however it ends. */
function watch(child: ChildProcess) {
  const output = { stdout: '', stderr: '' };
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output.stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output.stderr += chunk));
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  return { output, exited };
}

function nextMessage(child: ChildProcess): Promise<ProxyToParentMessage> {
  return new Promise((resolveMessage, reject) => {
    child.once('message', (message) => (isProxyToParentMessage(message) ? resolveMessage(message) : reject(new Error(`unexpected message ${JSON.stringify(message)}`))));
    child.once('exit', (code) => reject(new Error(`exited with ${code} before a message`)));
  });
}

function forkProxy(args: string[]): ChildProcess {
  return fork(MAIN, args, { cwd: projectRoot, execArgv: NODE_OPTIONS, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
}

function spawnProxy(args: string[]): ChildProcess {
  return spawn(process.execPath, [...NODE_OPTIONS, MAIN, ...args], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function firstStdoutLine(child: ChildProcess): Promise<string> {
  let buffered = '';
  for await (const chunk of child.stdout!) {
    buffered += String(chunk);
    const newline = buffered.indexOf('\n');
    if (newline !== -1) return buffered.slice(0, newline);
  }
  throw new Error(`no stdout line; got ${JSON.stringify(buffered)}`);
}

describe('core/main.ts process lifecycle', function () {
  let directory: string;
  const children: ChildProcess[] = [];
  let blocker: Server | undefined;
  const blockerSockets: Socket[] = [];
  /** A loopback port nothing listens on (fetch refuses "bad ports" such as 9, so none is hard-coded). */
  let unusedPort: number;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'himdsproxy-main-'));
    const probe = createServer();
    await new Promise<void>((resolveListen) => probe.listen(0, '127.0.0.1', resolveListen));
    unusedPort = (probe.address() as { port: number }).port;
    await new Promise((resolveClose) => probe.close(resolveClose));
  });
  afterEach(async () => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (blocker) {
      for (const socket of blockerSockets.splice(0)) socket.destroy();
      await new Promise((resolveClose) => blocker!.close(resolveClose));
    }
    blocker = undefined;
    await rm(directory, { recursive: true, force: true });
  });

  function options(extra: Record<string, unknown> = {}) {
    return proxyCommandLine({ listen: '127.0.0.1:0', himdsUrl: `http://127.0.0.1:${unusedPort}`, tokenDirectory: join(directory, 'tokens'), accessLogFile: join(directory, 'proxy.log'), ...extra });
  }

  it('with IPC: sends ready with the real URL, serves with Server: himdsproxy, stops on {type:"stop"} with exit 0', async () => {
    const child = forkProxy(options());
    children.push(child);
    const { exited } = watch(child);
    const ready = await nextMessage(child);
    expect(ready.type).to.equal('ready');
    const url = (ready as { url: string }).url;
    expect(url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(url.endsWith(':0')).to.equal(false);

    const response = await fetch(`${url}/metadata/versions`, { headers: { Metadata: 'true' } });
    expect(response.status).to.equal(200);
    expect(response.headers.get('server')).to.equal('himdsproxy');
    await response.text();
    if (process.platform === 'linux') {
      expect((await readFile(`/proc/${child.pid}/comm`, 'utf8')).trim()).to.equal(PROXY_PROCESS_TITLE);
    }

    child.send({ type: 'stop' });
    expect(await exited).to.equal(0);
    const logLines = (await readFile(join(directory, 'proxy.log'), 'utf8')).trimEnd().split('\n');
    expect(logLines).to.have.length(1);
    expect(JSON.parse(logLines[0]!)).to.include({ path: '/metadata/versions', status: 200 });
  });

  it('with IPC: exits 0 when the parent lets go of the channel', async () => {
    const child = forkProxy(options());
    children.push(child);
    const { exited } = watch(child);
    await nextMessage(child);
    child.disconnect();
    expect(await exited).to.equal(0);
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`without IPC: prints "listening on <url>" and exits 0 on ${signal}`, async function () {
      if (process.platform === 'win32') this.skip();
      const child = spawnProxy(options());
      children.push(child);
      const { exited } = watch(child);
      const line = await firstStdoutLine(child);
      expect(line).to.match(/^listening on http:\/\/127\.0\.0\.1:\d+$/);
      const url = line.slice('listening on '.length);
      // The agent is not there: a fast 503, and the process keeps running.
      const response = await fetch(`${url}/metadata/instance?api-version=2021-02-01`, { headers: { Metadata: 'true' } });
      expect(response.status).to.equal(503);
      await response.text();
      child.kill(signal);
      expect(await exited).to.equal(0);
    });
  }

  it('port in use: one clear line on stderr, fatal over IPC, exit 5', async () => {
    blocker = createServer();
    await new Promise<void>((resolveListen) => blocker!.listen(0, '127.0.0.1', resolveListen));
    const port = (blocker.address() as { port: number }).port;
    const child = forkProxy(options({ listen: `127.0.0.1:${port}` }));
    children.push(child);
    const { output, exited } = watch(child);
    const fatal = await nextMessage(child);
    expect(fatal).to.deep.equal({
      type: 'fatal',
      message: `Cannot listen on 127.0.0.1:${port}: address in use (another program, or another himdsproxy, listens there)`,
      exitCode: PROXY_EXIT_CODES.cannotListen,
    });
    expect(await exited).to.equal(PROXY_EXIT_CODES.cannotListen);
    expect(output.stderr.trimEnd().split('\n')).to.deep.equal([(fatal as { message: string }).message]);
  });

  it('an address not on this machine: exit 5 naming it', async () => {
    const child = spawnProxy(options({ listen: '192.0.2.123:0' }));
    children.push(child);
    const { output, exited } = watch(child);
    expect(await exited).to.equal(PROXY_EXIT_CODES.cannotListen);
    expect(output.stderr).to.match(/^Cannot listen on 192\.0\.2\.123:0: address not available/);
    expect(output.stderr.trimEnd().split('\n')).to.have.length(1);
  });

  for (const args of [['--listen', 'nonsense'], ['--upstream-timeout', 'x'], ['--frobnicate']]) {
    it(`usage error ${JSON.stringify(args)}: one line, exit 2`, async () => {
      const child = spawnProxy(args);
      children.push(child);
      const { output, exited } = watch(child);
      expect(await exited).to.equal(PROXY_EXIT_CODES.usage);
      expect(output.stderr.trimEnd().split('\n')).to.have.length(1);
      expect(output.stdout).to.equal('');
    });
  }

  it('stops within the shutdown deadline while a request waits on a silent agent', async () => {
    // A fake agent that never answers: the request is in flight when stop arrives.
    const silent = createServer((socket) => void blockerSockets.push(socket));
    blocker = silent;
    await new Promise<void>((resolveListen) => silent.listen(0, '127.0.0.1', resolveListen));
    const port = (silent.address() as { port: number }).port;
    const child = forkProxy(options({ himdsUrl: `http://127.0.0.1:${port}`, upstreamTimeoutMs: 60_000 }));
    children.push(child);
    const { exited } = watch(child);
    const ready = (await nextMessage(child)) as { url: string };
    const pending = fetch(`${ready.url}/metadata/instance?api-version=2021-02-01`, { headers: { Metadata: 'true' } }).then(
      (response) => response.status,
      () => 'cut',
    );
    await once(silent, 'connection');
    child.send({ type: 'stop' });
    expect(await exited).to.equal(0);
    expect(['cut', 503, 504, 502]).to.include(await pending);
  });
});
