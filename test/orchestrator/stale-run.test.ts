// Recovery after a crashed run: real leftover processes are stopped, unrelated ones are left alone, recorded addresses removed.
import { expect } from 'chai';
import { execa, type ResultPromise } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT_CODES, HimdsproxyError } from '../../orchestrator/errors.js';
import type { EntraJoinState, OperatingSystemInfo, PlatformAdapter } from '../../orchestrator/platform/types.js';
import { identifyHandlerProcess, identifyProxyProcess, isProcessAlive } from '../../orchestrator/process-check.js';
import { readProxyPidFile, type ProxyPidRecord } from '../../orchestrator/proxy-pid-file.js';
import { MemoryReporter } from '../../orchestrator/reporter.js';
import { recoverStaleRun } from '../../orchestrator/stale-run.js';
import { launchProxy } from '../../orchestrator/steps/proxy.js';
import { coordinationPaths } from '../../orchestrator/work-folder.js';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const fakeProxy = join(projectRoot, 'test', 'fixtures', 'programs', 'fake-proxy.mjs');

/** Loopback addresses in a Set; records what it was asked to change; can be told to fail. */
class FakeAddressAdapter implements PlatformAdapter {
  readonly name = 'linux' as const;
  readonly calls: string[] = [];
  failRemoval = false;
  constructor(readonly addresses = new Set<string>()) {}
  async hasLoopbackAddress(address: string): Promise<boolean> {
    this.calls.push(`has ${address}`);
    return this.addresses.has(address);
  }
  async addLoopbackAddress(address: string): Promise<void> {
    this.calls.push(`add ${address}`);
    this.addresses.add(address);
  }
  async removeLoopbackAddress(address: string): Promise<void> {
    this.calls.push(`remove ${address}`);
    if (this.failRemoval) throw new Error('RTNETLINK answers: Operation not permitted');
    this.addresses.delete(address);
  }
  async isElevated(): Promise<boolean> { return true; }
  async entraJoinState(): Promise<EntraJoinState | undefined> { return undefined; }
  async operatingSystem(): Promise<OperatingSystemInfo> {
    return { platform: 'linux', productName: 'Test Linux', version: '6.0', isWindowsServer: false };
  }
}

describe('recoverStaleRun', () => {
  let workdir: string;
  let pidFile: string;
  let reporter: MemoryReporter;
  let adapter: FakeAddressAdapter;
  const children: ResultPromise[] = [];

  beforeEach(async () => {
    workdir = await mkdtemp(join(tmpdir(), 'himdsproxy-stale-'));
    pidFile = coordinationPaths(workdir).proxyPidFile;
    reporter = new MemoryReporter();
    adapter = new FakeAddressAdapter();
  });

  afterEach(async () => {
    for (const child of children.splice(0)) {
      child.kill('SIGKILL');
      await child;
    }
    await rm(workdir, { recursive: true, force: true });
  });

  async function writePidFile(record: ProxyPidRecord | string): Promise<void> {
    await mkdir(dirname(pidFile), { recursive: true });
    await writeFile(pidFile, typeof record === 'string' ? record : JSON.stringify(record));
  }

  /** A detached fake proxy, as a run killed with SIGKILL would leave behind; resolves once it has renamed itself. */
  async function startLeftoverProxy(mode: 'forever' | 'forever-ignores-sigterm'): Promise<number> {
    const child = execa(process.execPath, [fakeProxy], {
      detached: true,
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'ignore',
      reject: false,
      buffer: false,
      env: { FAKE_PROXY_MODE: mode },
    });
    children.push(child);
    await new Promise<void>((started, failed) => {
      child.stdout.once('data', () => started());
      void child.then((result) => failed(new Error(`the fake proxy exited early: ${String(result.exitCode)}`)));
    });
    return child.pid!;
  }

  it('does nothing when no earlier run left a pid file', async () => {
    expect(await recoverStaleRun(workdir, adapter, reporter)).to.deep.equal({});
    expect(adapter.calls).to.deep.equal([]);
    expect(reporter.lines.filter((line) => line.level !== 'debug')).to.deep.equal([]);
  });

  const garbage: [string, string][] = [
    ['empty', ''],
    ['not JSON', 'pid=1234'],
    ['an array', '[1234]'],
    ['a pid of zero', JSON.stringify({ pid: 0 })],
    ['a pid as text', JSON.stringify({ pid: '1234' })],
    ['an address without the flag', JSON.stringify({ address: '169.254.169.254' })],
    ['addressAdded as text', JSON.stringify({ pid: 1234, address: '169.254.169.254', addressAdded: 'yes' })],
  ];
  for (const [name, text] of garbage) {
    it(`ignores and deletes a pid file that is ${name}, touching nothing`, async () => {
      await writePidFile(text);
      expect(await recoverStaleRun(workdir, adapter, reporter)).to.deep.equal({});
      expect(existsSync(pidFile)).to.equal(false);
      expect(adapter.calls).to.deep.equal([]);
      expect(reporter.lines.some((line) => line.level === 'warn' && line.message.startsWith(`Ignoring ${pidFile}`))).to.equal(true);
    });
  }

  it('stops a leftover proxy process (SIGTERM) and deletes the pid file', async () => {
    const pid = await startLeftoverProxy('forever');
    await writePidFile({ pid, listen: '127.0.0.1:8080', url: 'http://127.0.0.1:8080', startedAt: new Date().toISOString() });
    expect(await recoverStaleRun(workdir, adapter, reporter)).to.deep.equal({ stoppedPid: pid });
    expect(isProcessAlive(pid)).to.equal(false);
    expect(existsSync(pidFile)).to.equal(false);
    expect(reporter.text()).to.include(`Stopping the proxy an earlier run left running (pid ${pid}`);
  });

  it('kills a leftover proxy that ignores SIGTERM', async () => {
    const pid = await startLeftoverProxy('forever-ignores-sigterm');
    await writePidFile({ pid, listen: '127.0.0.1:8080', startedAt: new Date().toISOString() });
    expect(await recoverStaleRun(workdir, adapter, reporter, { killDeadlineMs: 300 })).to.deep.equal({ stoppedPid: pid });
    expect(isProcessAlive(pid)).to.equal(false);
  });

  it('recognises and stops a real core/main.ts proxy recorded by the launcher', async function () {
    if (!existsSync(join(projectRoot, 'core', 'main.ts'))) this.skip(); // core/main.ts is built by another part of the project
    const proxy = await launchProxy(
      { listen: '127.0.0.1:0', himdsUrl: 'http://127.0.0.1:9', tokenDirectory: workdir, allowedResources: [] },
      new MemoryReporter(),
      { pidFile },
    );
    try {
      expect(await recoverStaleRun(workdir, adapter, reporter)).to.deep.equal({ stoppedPid: proxy.pid });
      await proxy.exited;
      expect(isProcessAlive(proxy.pid)).to.equal(false);
    } finally {
      await proxy.stop();
    }
  });

  it('leaves alone an unrelated live process that reuses the recorded pid (the test runner itself)', async () => {
    await writePidFile({ pid: process.pid, listen: '127.0.0.1:8080', startedAt: new Date().toISOString() });
    expect(await recoverStaleRun(workdir, adapter, reporter, { killDeadlineMs: 300 })).to.deep.equal({});
    expect(isProcessAlive(process.pid)).to.equal(true);
    expect(existsSync(pidFile)).to.equal(false);
    expect(reporter.text()).to.include(`An earlier run recorded proxy pid ${process.pid}, but`);
    expect(reporter.text()).to.include('leaving it alone');
  });

  it('leaves alone a process with the proxy title that started after the record (pid reused by another proxy)', async function () {
    if (process.platform === 'win32') this.skip(); // Windows reports no process start times
    const pid = await startLeftoverProxy('forever');
    await writePidFile({ pid, startedAt: '2001-01-01T00:00:00.000Z' });
    expect(await recoverStaleRun(workdir, adapter, reporter)).to.deep.equal({});
    expect(isProcessAlive(pid)).to.equal(true);
    expect(reporter.text()).to.include('the pid was reused');
  });

  it('only deletes the pid file when the recorded proxy has already exited', async () => {
    const exited = execa(process.execPath, ['-e', '']);
    await exited;
    await writePidFile({ pid: exited.pid!, startedAt: new Date().toISOString() });
    expect(await recoverStaleRun(workdir, adapter, reporter)).to.deep.equal({});
    expect(existsSync(pidFile)).to.equal(false);
    expect(adapter.calls).to.deep.equal([]);
  });

  it('stops the proxy first, then removes the address the earlier run added', async () => {
    const pid = await startLeftoverProxy('forever');
    adapter.addresses.add('169.254.169.254');
    await writePidFile({ pid, startedAt: new Date().toISOString(), address: '169.254.169.254', addressAdded: true });
    expect(await recoverStaleRun(workdir, adapter, reporter)).to.deep.equal({ stoppedPid: pid, removedAddress: '169.254.169.254' });
    expect(isProcessAlive(pid)).to.equal(false);
    expect(adapter.calls).to.deep.equal(['has 169.254.169.254', 'remove 169.254.169.254']);
    expect(adapter.addresses.has('169.254.169.254')).to.equal(false);
    expect(existsSync(pidFile)).to.equal(false);
  });

  it('removes a recorded address even when the proxy had already stopped', async () => {
    adapter.addresses.add('169.254.169.254');
    await writePidFile({ address: '169.254.169.254', addressAdded: true });
    expect(await recoverStaleRun(workdir, adapter, reporter)).to.deep.equal({ removedAddress: '169.254.169.254' });
    expect(adapter.addresses.size).to.equal(0);
  });

  it('does not remove an address the earlier run did not add', async () => {
    adapter.addresses.add('169.254.169.254');
    await writePidFile({ pid: 999_999_999, address: '169.254.169.254', addressAdded: false });
    expect(await recoverStaleRun(workdir, adapter, reporter)).to.deep.equal({});
    expect(adapter.calls).to.deep.equal([]);
    expect(adapter.addresses.has('169.254.169.254')).to.equal(true);
  });

  it('does nothing to an address that is already gone', async () => {
    await writePidFile({ address: '169.254.169.254', addressAdded: true });
    expect(await recoverStaleRun(workdir, adapter, reporter)).to.deep.equal({});
    expect(adapter.calls).to.deep.equal(['has 169.254.169.254']);
    expect(existsSync(pidFile)).to.equal(false);
  });

  it('fails with a fix and keeps the pid file when the address cannot be removed', async () => {
    adapter.addresses.add('169.254.169.254');
    adapter.failRemoval = true;
    await writePidFile({ address: '169.254.169.254', addressAdded: true });
    try {
      await recoverStaleRun(workdir, adapter, reporter);
      expect.fail('recoverStaleRun should have failed');
    } catch (error) {
      expect(error).to.be.instanceOf(HimdsproxyError);
      expect((error as HimdsproxyError).exitCode).to.equal(EXIT_CODES.preflightFailed);
      expect((error as HimdsproxyError).message).to.include('Operation not permitted');
      expect((error as HimdsproxyError).fix).to.include('Administrator');
    }
    expect(await readProxyPidFile(pidFile)).to.deep.equal({ kind: 'record', record: { address: '169.254.169.254', addressAdded: true } });
  });
});

describe('identifyProxyProcess', () => {
  const base = { pid: 4242, ppid: 1 };
  const recordedStart = new Date('2026-12-03T15:00:00.000Z');
  const cases: [string, Parameters<typeof identifyProxyProcess>[0], boolean][] = [
    ['the proxy title as command line (Linux)', { ...base, name: 'node', cmd: 'himdsproxy-core' }, true],
    ['node running dist/core/main.js', { ...base, name: 'node', cmd: '/usr/bin/node /opt/himdsproxy/dist/core/main.js --listen 169.254.169.254:80' }, true],
    ['node running core/main.ts under tsx', { ...base, name: 'node', cmd: 'node --import file:///x/tsx/dist/loader.mjs /src/core/main.ts --listen 127.0.0.1:0' }, true],
    ['a Windows path to core\\main.js', { ...base, name: 'node.exe', cmd: '"C:\\Program Files\\nodejs\\node.exe" C:\\h\\dist\\core\\main.js' }, true],
    ['an editor open on core/main.ts', { ...base, name: 'vim', cmd: 'vim core/main.ts' }, false],
    ['a lookalike file name', { ...base, name: 'node', cmd: 'node /x/score/main.js' }, false],
    ['the test runner', { ...base, name: 'node', cmd: 'node --import tsx node_modules/.bin/mocha' }, false],
    ['a process mentioning the title in its arguments', { ...base, name: 'node', cmd: "node -e ps.filter('himdsproxy-core')" }, false],
    ['Windows node.exe without a command line', { ...base, name: 'node.exe' }, true],
    ['Windows explorer.exe without a command line', { ...base, name: 'explorer.exe' }, false],
    ['our proxy started before the record was written', { ...base, name: 'node', cmd: 'himdsproxy-core', startTime: new Date('2026-12-03T14:59:59.000Z') }, true],
    ['a proxy started an hour after the record', { ...base, name: 'node', cmd: 'himdsproxy-core', startTime: new Date('2026-12-03T16:00:00.000Z') }, false],
  ];
  for (const [name, entry, ours] of cases) {
    it(`${ours ? 'recognises' : 'rejects'} ${name}`, () => {
      expect(identifyProxyProcess(entry, recordedStart).ours).to.equal(ours);
    });
  }
});

describe('identifyHandlerProcess', () => {
  const base = { pid: 4343, ppid: 1 };
  const recordedStart = new Date('2026-12-03T15:00:00.000Z');
  const linuxProgram = '/srv/work/Packages/Plugins/Microsoft.Azure.ActiveDirectory.AADLoginForWindows/1.1.0.2/bin/fake-handler';
  const windowsProgram = 'C:\\himdsproxy\\Packages\\Plugins\\Microsoft.Azure.ActiveDirectory.AADLoginForWindows\\1.1.0.2\\AADLoginForWindowsHandler.exe';
  const cases: [string, Parameters<typeof identifyHandlerProcess>[0], string, boolean][] = [
    ['a script handler run by node from the program folder', { ...base, name: 'node', cmd: `node ${linuxProgram}.mjs enable` }, linuxProgram, true],
    ['the program itself', { ...base, name: 'fake-handler', cmd: `/bin/sh ${linuxProgram} enable` }, linuxProgram, true],
    ['an unrelated process reusing the pid', { ...base, name: 'node', cmd: 'node --import tsx node_modules/.bin/mocha' }, linuxProgram, false],
    ['the handler image on Windows (no command line)', { ...base, name: 'AADLoginForWindowsHandler.exe' }, windowsProgram, true],
    ['another image on Windows', { ...base, name: 'svchost.exe' }, windowsProgram, false],
    ['a process started an hour after the record', { ...base, name: 'AADLoginForWindowsHandler.exe', startTime: new Date('2026-12-03T16:00:00.000Z') }, windowsProgram, false],
  ];
  for (const [name, entry, program, ours] of cases) {
    it(`${ours ? 'recognises' : 'rejects'} ${name}`, () => {
      expect(identifyHandlerProcess(entry, program, recordedStart).ours).to.equal(ours);
    });
  }
});

describe('recoverStaleRun and a recorded handler command', () => {
  let workdir: string;
  let pidFile: string;

  beforeEach(async () => {
    workdir = await mkdtemp(join(tmpdir(), 'himdsproxy-stale-handler-'));
    pidFile = coordinationPaths(workdir).proxyPidFile;
    await mkdir(dirname(pidFile), { recursive: true });
  });
  afterEach(async () => {
    await rm(workdir, { recursive: true, force: true });
  });

  it('stops a leftover handler running from its package folder, and leaves an unrelated pid alone', async () => {
    const program = join(workdir, 'Packages', 'bin', 'hanging-handler.mjs');
    await mkdir(dirname(program), { recursive: true });
    await writeFile(program, 'setInterval(() => {}, 60_000);\n');
    const leftover = execa(process.execPath, [program, 'enable'], { detached: true, stdin: 'ignore', stdout: 'ignore', stderr: 'ignore', reject: false });
    try {
      await writeFile(pidFile, JSON.stringify({ handlerPid: leftover.pid, handlerProgram: program, handlerStartedAt: new Date().toISOString() }));
      const reporter = new MemoryReporter();
      const recovery = await recoverStaleRun(workdir, new FakeAddressAdapter(), reporter, { killDeadlineMs: 2_000 });
      expect(recovery.stoppedHandlerPid).to.equal(leftover.pid);
      await leftover;
      expect(isProcessAlive(leftover.pid!)).to.equal(false);
      expect(existsSync(pidFile)).to.equal(false);

      await writeFile(pidFile, JSON.stringify({ handlerPid: process.pid, handlerProgram: program }));
      const untouched = await recoverStaleRun(workdir, new FakeAddressAdapter(), reporter);
      expect(untouched.stoppedHandlerPid).to.equal(undefined);
      expect(reporter.text()).to.include(`An earlier run recorded handler command pid ${process.pid}, but`);
    } finally {
      leftover.kill('SIGKILL');
      await leftover;
    }
  });

  it('a handler pid without its program is a malformed record, ignored with a warning', async () => {
    await writeFile(pidFile, JSON.stringify({ handlerPid: process.pid }));
    expect(await readProxyPidFile(pidFile)).to.deep.equal({ kind: 'unreadable', reason: 'it does not describe a proxy run' });
  });
});
