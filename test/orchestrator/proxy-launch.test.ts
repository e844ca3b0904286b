// The proxy launcher against real child processes: a fixture speaking the IPC contract, and the real core when present.
import { expect } from 'chai';
import { PROXY_NODE_OPTIONS } from '../../core/contract.js';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { EXIT_CODES, HimdsproxyError } from '../../orchestrator/errors.js';
import { isProcessAlive } from '../../orchestrator/process-check.js';
import { proxyProgramFor } from '../../orchestrator/proxy-entry-point.js';
import { readProxyPidFile } from '../../orchestrator/proxy-pid-file.js';
import { MemoryReporter } from '../../orchestrator/reporter.js';
import { launchProxy, recordAddressInPidFile, type LaunchedProxy, type ProxyLaunchSettings } from '../../orchestrator/steps/proxy.js';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const fakeProxy = join(projectRoot, 'test', 'fixtures', 'programs', 'fake-proxy.mjs');

function fixture(mode: string): NonNullable<ProxyLaunchSettings['program']> {
  return { file: fakeProxy, nodeOptions: [], env: { FAKE_PROXY_MODE: mode } };
}

function get(url: string): Promise<{ status: number; server: string | undefined }> {
  return new Promise((resolvePromise, reject) => {
    request(url, (response) => {
      response.resume();
      response.on('end', () => resolvePromise({ status: response.statusCode ?? 0, server: response.headers.server as string | undefined }));
    }).on('error', reject).end();
  });
}

async function expectLaunchFailure(promise: Promise<LaunchedProxy>): Promise<HimdsproxyError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(HimdsproxyError);
    expect((error as HimdsproxyError).exitCode).to.equal(EXIT_CODES.proxyFailed);
    return error as HimdsproxyError;
  }
  expect.fail('launchProxy should have failed');
}

describe('launchProxy', () => {
  let workdir: string;
  let pidFile: string;
  let reporter: MemoryReporter;
  const launched: LaunchedProxy[] = [];

  beforeEach(async () => {
    workdir = await mkdtemp(join(tmpdir(), 'himdsproxy-launch-'));
    pidFile = join(workdir, 'Logs', 'himdsproxy', 'proxy.pid.json');
    reporter = new MemoryReporter();
  });

  afterEach(async () => {
    await Promise.all(launched.splice(0).map((proxy) => proxy.stop()));
    await rm(workdir, { recursive: true, force: true });
  });

  /** Launches and remembers it, so afterEach stops whatever a failing test left running. */
  async function launch(mode: string, settings: ProxyLaunchSettings = {}, listen = '127.0.0.1:0'): Promise<LaunchedProxy> {
    const proxy = await launchProxy({ listen }, reporter, { pidFile, program: fixture(mode), ...settings });
    launched.push(proxy);
    return proxy;
  }

  /** Pids the launcher reported in its log, for checking that failed launches left nothing behind. */
  function startedPids(): number[] {
    return reporter.lines.flatMap((line) => [...line.message.matchAll(/\(pid (\d+)\)/g)].map((match) => Number(match[1])));
  }

  it('resolves once the proxy is ready, records it in the pid file, and stops it gracefully', async () => {
    const proxy = await launch('ready');
    expect(proxy.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(isProcessAlive(proxy.pid)).to.equal(true);
    expect(await get(`${proxy.url}/metadata/instance`)).to.deep.equal({ status: 200, server: 'himdsproxy' });

    const recorded = await readProxyPidFile(pidFile);
    expect(recorded.kind).to.equal('record');
    if (recorded.kind !== 'record') return;
    expect(recorded.record.pid).to.equal(proxy.pid);
    expect(recorded.record.listen).to.equal('127.0.0.1:0');
    expect(recorded.record.url).to.equal(proxy.url);
    expect(Number.isNaN(Date.parse(recorded.record.startedAt ?? ''))).to.equal(false);

    await proxy.stop();
    const exit = await proxy.exited;
    expect(exit).to.deep.equal({ exitCode: 0, signal: undefined });
    expect(isProcessAlive(proxy.pid)).to.equal(false);
    expect(existsSync(pidFile)).to.equal(false);
  });

  it('stop() is idempotent, also after the proxy has gone', async () => {
    const proxy = await launch('ready');
    await Promise.all([proxy.stop(), proxy.stop()]);
    await proxy.stop();
    expect(isProcessAlive(proxy.pid)).to.equal(false);
  });

  it('ignores unknown and malformed IPC messages and waits for a real ready', async () => {
    const proxy = await launch('chatty');
    expect(proxy.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(reporter.text()).to.include('unknown message');
  });

  it('fails with the fatal message and its error output when the address is in use', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((done) => blocker.listen(0, '127.0.0.1', done));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const error = await expectLaunchFailure(launch('ready', {}, `127.0.0.1:${port}`));
      expect(error.message).to.include(`cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
      expect(error.message).to.include('exit code 5');
      expect(error.fix).to.be.a('string');
    } finally {
      blocker.close();
    }
    for (const pid of startedPids()) expect(isProcessAlive(pid)).to.equal(false);
    expect(existsSync(pidFile)).to.equal(false);
  });

  it('fails with the exit code and the last lines of stderr when the proxy exits before ready', async () => {
    const error = await expectLaunchFailure(launch('exit-early'));
    expect(error.message).to.include('exited before it was ready');
    expect(error.message).to.include('exit code 1');
    expect(error.message).to.include('boom: the proxy crashed while starting');
    expect(existsSync(pidFile)).to.equal(false);
  });

  it('stops a proxy that never reports ready and says it timed out', async () => {
    const error = await expectLaunchFailure(launch('never-ready', { readyTimeoutMs: 300 }));
    expect(error.message).to.include('did not report ready within 300 ms');
    expect(error.message).to.include('waiting for nothing');
    const pids = startedPids();
    expect(pids).to.have.length.greaterThan(0);
    for (const pid of pids) expect(isProcessAlive(pid)).to.equal(false);
    expect(existsSync(pidFile)).to.equal(false);
  });

  it('kills a proxy that ignores the stop message once the deadline passes', async () => {
    const proxy = await launch('ignores-stop', { stopDeadlineMs: 300 });
    await proxy.stop();
    const exit = await proxy.exited;
    expect(exit.signal).to.equal('SIGKILL');
    expect(exit.exitCode).to.equal(undefined);
    expect(isProcessAlive(proxy.pid)).to.equal(false);
    expect(reporter.lines.some((line) => line.level === 'warn' && line.message.includes('did not stop within 300 ms'))).to.equal(true);
    expect(existsSync(pidFile)).to.equal(false);
  });

  it('reports through `exited` when the proxy dies during the run', async () => {
    const proxy = await launch('dies-after-ready');
    const exit = await proxy.exited;
    expect(exit).to.deep.equal({ exitCode: 42, signal: undefined });
    expect(isProcessAlive(proxy.pid)).to.equal(false);
    expect(existsSync(pidFile)).to.equal(false);
  });

  it('appends the proxy output to the stderr log', async () => {
    const stderrLog = join(workdir, 'Logs', 'himdsproxy', 'run', 'proxy.stderr.log');
    await expectLaunchFailure(launch('exit-early', { stderrLog }));
    expect(await readFile(stderrLog, 'utf8')).to.equal('first line\nboom: the proxy crashed while starting\n');
  });

  it('keeps a recorded address in the pid file after the proxy stopped, so it is not forgotten', async () => {
    await recordAddressInPidFile(pidFile, '169.254.169.254');
    const proxy = await launch('ready');
    const during = await readProxyPidFile(pidFile);
    expect(during).to.deep.include({ kind: 'record' });
    if (during.kind === 'record') expect(during.record).to.include({ pid: proxy.pid, address: '169.254.169.254', addressAdded: true });
    await proxy.stop();
    expect(await readProxyPidFile(pidFile)).to.deep.equal({ kind: 'record', record: { address: '169.254.169.254', addressAdded: true } });
  });

  it('stops the proxy and fails when its pid cannot be recorded', async () => {
    const blockedPidFile = join(workdir, 'not-a-folder', 'proxy.pid.json');
    await writeFile(join(workdir, 'not-a-folder'), 'a file where a folder should be');
    const error = await expectLaunchFailure(launchProxy({ listen: '127.0.0.1:0' }, reporter, { pidFile: blockedPidFile, program: fixture('ready') }));
    expect(error.message).to.include(`Could not record the proxy in ${blockedPidFile}`);
    const pids = startedPids();
    expect(pids).to.have.length.greaterThan(0);
    for (const pid of pids) expect(isProcessAlive(pid)).to.equal(false);
  });

  it('fails clearly when the program does not exist', async () => {
    const error = await expectLaunchFailure(
      launchProxy({ listen: '127.0.0.1:0' }, reporter, { pidFile, program: { file: join(workdir, 'missing.mjs'), nodeOptions: [] } }),
    );
    expect(error.message).to.match(/exited before it was ready|could not be started/);
    expect(existsSync(pidFile)).to.equal(false);
  });

  const realCore = join(projectRoot, 'core', 'main.ts');
  it('launches the real core/main.ts from source and stops it', async function () {
    if (!existsSync(realCore)) this.skip(); // core/main.ts is built by another part of the project
    const proxy = await launchProxy(
      { listen: '127.0.0.1:0', himdsUrl: 'http://127.0.0.1:9', tokenDirectory: workdir, allowedResources: [], accessLogFile: join(workdir, 'proxy.log') },
      reporter,
      { pidFile, stderrLog: join(workdir, 'proxy.stderr.log') },
    );
    launched.push(proxy);
    expect(proxy.url).to.match(/^http:\/\/127\.0\.0\.1:\d+/);
    await proxy.stop();
    const exit = await proxy.exited;
    expect(exit.signal).to.equal(undefined);
    expect(exit.exitCode).to.equal(0);
    expect(isProcessAlive(proxy.pid)).to.equal(false);
    expect(existsSync(pidFile)).to.equal(false);
  });

  it('reports why the real core/main.ts cannot start when its port is taken', async function () {
    if (!existsSync(realCore)) this.skip(); // core/main.ts is built by another part of the project
    const blocker: Server = createServer();
    await new Promise<void>((done) => blocker.listen(0, '127.0.0.1', done));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const error = await expectLaunchFailure(
        launchProxy({ listen: `127.0.0.1:${port}`, himdsUrl: 'http://127.0.0.1:9', tokenDirectory: workdir, allowedResources: [] }, reporter, { pidFile }),
      );
      expect(error.message).to.include('exit code 5');
    } finally {
      blocker.close();
    }
    for (const pid of startedPids()) expect(isProcessAlive(pid)).to.equal(false);
    expect(existsSync(pidFile)).to.equal(false);
  });
});

describe('proxyProgramFor', () => {
  const tsxUrl = 'file:///opt/project/node_modules/tsx/dist/loader.mjs';

  it('runs core/main.ts with the tsx loader when running from source', () => {
    const moduleUrl = pathToFileURL(join(projectRoot, 'orchestrator', 'proxy-entry-point.ts')).href;
    expect(proxyProgramFor(moduleUrl, () => tsxUrl)).to.deep.equal({
      file: join(projectRoot, 'core', 'main.ts'),
      nodeOptions: [...PROXY_NODE_OPTIONS, '--import', tsxUrl],
    });
  });

  it('runs dist/core/main.js with only the proxy\'s own Node options when running from the build', () => {
    const moduleUrl = pathToFileURL(join(projectRoot, 'dist', 'orchestrator', 'proxy-entry-point.js')).href;
    expect(proxyProgramFor(moduleUrl, () => expect.fail('tsx must not be needed'))).to.deep.equal({
      file: join(projectRoot, 'dist', 'core', 'main.js'),
      nodeOptions: [...PROXY_NODE_OPTIONS],
    });
  });

  it('resolves the real tsx loader to an absolute URL', () => {
    const program = proxyProgramFor(pathToFileURL(join(projectRoot, 'orchestrator', 'proxy-entry-point.ts')).href);
    expect(program.nodeOptions.at(-1)).to.match(/^file:\/\/.*tsx/);
  });
});
