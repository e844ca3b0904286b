// `himdsproxy join` end to end on loopback: the built CLI, the real proxy, the HIMDS emulator and
// the fake handler, all real processes; every test checks that nothing is left running.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import psList from 'ps-list';
import { EXIT_CODES } from '../../orchestrator/errors.js';
import { isProcessAlive, waitForProcessExit } from '../../orchestrator/process-check.js';
import { DEFAULT_HANDLER } from '../../orchestrator/work-folder.js';
import { ForwardProxy } from '../support/forward-proxy.js';
import { JoinHarness, HANDLER_ZIP_PATH } from '../support/join-harness.js';
import { buildRawHandlerZip, buildZip } from '../support/zip-fixtures.js';

const PACKAGE = ['Packages', 'Plugins', DEFAULT_HANDLER.name, DEFAULT_HANDLER.version];

/** Processes whose command line mentions this test's folder: the proxy, the handler. */
async function processesOf(harness: JoinHarness): Promise<string[]> {
  return (await psList())
    .filter((process) => process.cmd?.includes(harness.root) && process.pid !== globalThis.process.pid)
    .map((process) => `${process.pid} ${process.cmd}`);
}

async function waitForOutput(child: { all?: NodeJS.ReadableStream | null }, pattern: RegExp, timeoutMs = 20_000): Promise<void> {
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${pattern} in the output within ${timeoutMs} ms:\n${seen}`)), timeoutMs);
    child.all?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

describe('himdsproxy join (end to end on loopback)', function () {
  this.timeout(60_000);
  let harness: JoinHarness;

  beforeEach(async () => {
    harness = await JoinHarness.start();
  });

  afterEach(async () => {
    const leftovers = await processesOf(harness);
    await harness.close();
    expect(leftovers, 'processes left running after the join').to.deep.equal([]);
  });

  it('joins: exit 0, the handler contract on disk, a summary, no secret in any log', async () => {
    const result = await harness.runJoin();
    expect(result.exitCode, result.stderr).to.equal(EXIT_CODES.ok);
    expect(result.stderr).to.match(/✔ Successfully joined machine to AAD\. \(.+\)\. Logs: /);

    const environment = JSON.parse(await readFile(harness.path(...PACKAGE, 'HandlerEnvironment.json'), 'utf8')) as unknown[];
    expect(environment).to.have.length(1);
    expect(environment[0]).to.deep.include({ name: DEFAULT_HANDLER.name, version: 1.0 });
    const settings = JSON.parse(await readFile(harness.path(...PACKAGE, 'RuntimeSettings', '0.settings'), 'utf8'));
    expect(settings).to.deep.equal({ runtimeSettings: [{ handlerSettings: { publicSettings: { mdmId: '' } } }] });
    const status = JSON.parse(await readFile(harness.path(...PACKAGE, 'Status', '0.status'), 'utf8'));
    expect(status[0].status.status).to.equal('success');

    const lastRun = await harness.lastRun();
    expect(lastRun).to.include({ outcome: 'joined', exitCode: 0, message: 'Successfully joined machine to AAD.' });
    const logs = lastRun.logs as { join: string; proxy: string; handler: string };
    const accessLog = await readFile(logs.proxy, 'utf8');
    const accessLines = accessLog.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(accessLines.map((line) => line.path)).to.include.members([
      '/metadata/instance',
      '/metadata/identity/info',
      '/metadata/identity/oauth2/token',
    ]);
    const tokenLine = accessLines.find((line) => line.path === '/metadata/identity/oauth2/token');
    expect(tokenLine).to.include({ status: 200, resource: 'urn:ms-drs:enterpriseregistration.windows.net' });

    const everything = [result.stdout, result.stderr, accessLog, await readFile(logs.join, 'utf8'), await readFile(logs.handler, 'utf8')].join('\n');
    expect(harness.emulator.issuedAccessTokens.length).to.be.greaterThan(0);
    for (const secret of [...harness.emulator.issuedAccessTokens, ...harness.emulator.issuedSecrets]) {
      expect(everything.includes(secret), 'a token or key secret reached the output or a log').to.equal(false);
    }
    expect(existsSync(harness.path('Logs', 'himdsproxy', 'proxy.pid.json')), 'pid file left behind').to.equal(false);
    expect(existsSync(harness.path('Logs', 'himdsproxy', 'join.lock')), 'lock left behind').to.equal(false);
  });

  it('handler reports an error: exit 6 with its message, code and a fix', async () => {
    const result = await harness.runJoin([], { FAKE_HANDLER_MODE: 'error' });
    expect(result.exitCode, result.stderr).to.equal(EXIT_CODES.handlerError);
    expect(result.stderr).to.match(/✖ The handler reported an error \(code -2145648574\): .*DSREG_E_MSI_TENANTID_UNAVAILABLE/);
    expect(result.stderr).to.include('Fix: dsregcmd could not read the tenant');
    expect(result.stderr).to.match(/A complete log of this run is in .*join\.log/);
    expect(await harness.lastRun()).to.include({ outcome: 'failed', exitCode: EXIT_CODES.handlerError });
  });

  it('handler never finishes: exit 7 after --timeout, the hanging enable is stopped', async () => {
    const result = await harness.runJoin(['--timeout', '2s'], { FAKE_HANDLER_MODE: 'hang' });
    expect(result.exitCode, result.stderr).to.equal(EXIT_CODES.timedOut);
    expect(result.stderr).to.include('transitioning');
    expect(await harness.lastRun()).to.include({ outcome: 'timed-out', exitCode: EXIT_CODES.timedOut });
  });

  it('enable exits non-zero: exit 6 naming the command and its exit code', async () => {
    const result = await harness.runJoin([], { FAKE_HANDLER_MODE: 'enable-exit' });
    expect(result.exitCode, result.stderr).to.equal(EXIT_CODES.handlerError);
    expect(result.stderr).to.match(/bin\/fake-handler enable.*exit(ed with)? code 3/);
  });

  it('garbage, half-written and BOM-prefixed status files are waited out', async () => {
    const garbage = await harness.runJoin([], { FAKE_HANDLER_MODE: 'garbage-status' });
    expect(garbage.exitCode, garbage.stderr).to.equal(EXIT_CODES.ok);
    const bom = await harness.runJoin(['--force'], { FAKE_HANDLER_MODE: 'bom-status' });
    expect(bom.exitCode, bom.stderr).to.equal(EXIT_CODES.ok);
  });

  it('SHA-256 mismatch: exit 4, nothing extracted, nothing run', async () => {
    const result = await harness.runJoin(['--sha256', 'a'.repeat(64)]);
    expect(result.exitCode, result.stderr).to.equal(EXIT_CODES.packageFailed);
    expect(result.stderr).to.match(/SHA-256/);
    expect(existsSync(harness.path(...PACKAGE)), 'package folder created').to.equal(false);
    expect(existsSync(harness.path('Logs', 'Plugins')), 'handler ran').to.equal(false);
  });

  it('a zip-slip archive: exit 4, nothing written outside or inside the package folder', async () => {
    harness.serveHandlerZip(buildRawHandlerZip([{ name: '../../../escaped.txt', data: Buffer.from('pwned') }]));
    const result = await harness.runJoin();
    expect(result.exitCode, result.stderr).to.equal(EXIT_CODES.packageFailed);
    expect(result.stderr).to.match(/outside|\.\./);
    const workdirEntries = await readdir(harness.workdir);
    expect(workdirEntries).to.not.include('escaped.txt');
    expect(existsSync(join(harness.root, 'escaped.txt'))).to.equal(false);
    expect(existsSync(harness.path(...PACKAGE))).to.equal(false);
  });

  it('download trouble: 404 is final (exit 4, one request); 500 then success is retried', async () => {
    harness.downloads.serve(HANDLER_ZIP_PATH, harness.zipBody, { kind: 'status', status: 404 });
    const missing = await harness.runJoin();
    expect(missing.exitCode, missing.stderr).to.equal(EXIT_CODES.packageFailed);
    expect(missing.stderr).to.include('404');
    expect(harness.downloads.requestsFor(HANDLER_ZIP_PATH)).to.equal(1);

    harness.downloads.serve(HANDLER_ZIP_PATH, harness.zipBody, { kind: 'fail-then-ok', failures: 1, status: 500 });
    const retried = await harness.runJoin();
    expect(retried.exitCode, retried.stderr).to.equal(EXIT_CODES.ok);
    expect(harness.downloads.requestsFor(HANDLER_ZIP_PATH)).to.equal(3);
  });

  it('a truncated download is retried and never mistaken for a good one', async () => {
    harness.downloads.serve(HANDLER_ZIP_PATH, harness.zipBody, { kind: 'truncate', sendBytes: 100, times: 1 });
    const result = await harness.runJoin();
    expect(result.exitCode, result.stderr).to.equal(EXIT_CODES.ok);
    expect(harness.downloads.requestsFor(HANDLER_ZIP_PATH)).to.equal(2);
  });

  it('downloads through the proxy that HTTP_PROXY names (Arc servers often have no direct route out)', async () => {
    const proxy = await new ForwardProxy().start();
    try {
      const result = await harness.runJoin([], { HTTP_PROXY: proxy.url, NO_PROXY: '' });
      expect(result.exitCode, result.stderr).to.equal(EXIT_CODES.ok);
      expect(proxy.forwarded).to.have.length(1);
      expect(proxy.forwarded[0]).to.be.oneOf([`GET ${harness.downloads.url(HANDLER_ZIP_PATH)}`, `CONNECT ${new URL(harness.downloads.url('/')).host}`]);
      expect(harness.downloads.requestsFor(HANDLER_ZIP_PATH)).to.equal(1);
    } finally {
      await proxy.close();
    }
  });

  it('Ctrl+C mid-run: exit 130, proxy stopped, lock and pid file gone', async () => {
    const child = harness.spawnJoin([], { FAKE_HANDLER_MODE: 'hang' });
    await waitForOutput(child, /handler: AADJoin transitioning/);
    child.kill('SIGINT');
    const result = await child;
    expect(result.exitCode, String(result.all)).to.equal(EXIT_CODES.interrupted);
    expect(String(result.stderr)).to.match(/✖ Interrupted/);
    expect(await harness.lastRun()).to.include({ outcome: 'interrupted', exitCode: EXIT_CODES.interrupted });
    expect(existsSync(harness.path('Logs', 'himdsproxy', 'proxy.pid.json'))).to.equal(false);
    expect(existsSync(harness.path('Logs', 'himdsproxy', 'join.lock'))).to.equal(false);
  });

  it('the proxy dies mid-run: exit 5 naming it, the handler is stopped, nothing left behind', async () => {
    const child = harness.spawnJoin([], { FAKE_HANDLER_MODE: 'hang' });
    await waitForOutput(child, /handler: AADJoin transitioning/);
    const record = JSON.parse(await readFile(harness.path('Logs', 'himdsproxy', 'proxy.pid.json'), 'utf8')) as { pid: number };
    process.kill(record.pid, 'SIGKILL');
    const result = await child;
    expect(result.exitCode, String(result.all)).to.equal(EXIT_CODES.proxyFailed);
    expect(String(result.stderr)).to.match(/✖ The proxy stopped during the join \(.*SIGKILL.*\)/);
    expect(await harness.lastRun()).to.include({ outcome: 'failed', exitCode: EXIT_CODES.proxyFailed });
  });

  it('the terminal goes away (SIGHUP; on Windows the console window closes): cleaned up like Ctrl+C', async () => {
    const child = harness.spawnJoin([], { FAKE_HANDLER_MODE: 'hang' });
    await waitForOutput(child, /handler: AADJoin transitioning/);
    child.kill('SIGHUP');
    const result = await child;
    expect(result.exitCode, String(result.all)).to.equal(EXIT_CODES.interrupted);
    expect(existsSync(harness.path('Logs', 'himdsproxy', 'proxy.pid.json'))).to.equal(false);
  });

  it('reruns: after success the package is reused, install is skipped and the next sequence number is used', async () => {
    const first = await harness.runJoin();
    expect(first.exitCode, first.stderr).to.equal(EXIT_CODES.ok);
    const second = await harness.runJoin();
    expect(second.exitCode, second.stderr).to.equal(EXIT_CODES.ok);
    expect(harness.downloads.requestsFor(HANDLER_ZIP_PATH)).to.equal(1);
    expect(await readdir(harness.path(...PACKAGE, 'RuntimeSettings'))).to.have.members(['0.settings', '1.settings']);
    expect(await readdir(harness.path(...PACKAGE, 'Status'))).to.have.members(['0.status', '1.status']);
    const handlerLog = await readFile(harness.path('Logs', 'Plugins', DEFAULT_HANDLER.name, DEFAULT_HANDLER.version, 'fake-handler.log'), 'utf8');
    expect(handlerLog.match(/install started/g)?.length ?? 0, handlerLog).to.equal(1);
  });

  it('reruns: a failed run is followed by a successful one', async () => {
    const failed = await harness.runJoin([], { FAKE_HANDLER_MODE: 'error' });
    expect(failed.exitCode).to.equal(EXIT_CODES.handlerError);
    const fixed = await harness.runJoin();
    expect(fixed.exitCode, fixed.stderr).to.equal(EXIT_CODES.ok);
    expect(await harness.lastRun()).to.include({ outcome: 'joined' });
  });

  it('recovers after a run was killed with SIGKILL: its proxy and its hanging handler are stopped, the next run succeeds', async () => {
    const child = harness.spawnJoin([], { FAKE_HANDLER_MODE: 'hang' });
    await waitForOutput(child, /handler: AADJoin transitioning/);
    const pidFile = harness.path('Logs', 'himdsproxy', 'proxy.pid.json');
    const record = JSON.parse(await readFile(pidFile, 'utf8')) as { pid: number; handlerPid: number };
    child.kill('SIGKILL');
    await child;
    // The killed run's record stays for the next run; its handler is still hanging.
    expect(existsSync(pidFile)).to.equal(true);
    expect(existsSync(harness.path('Logs', 'himdsproxy', 'join.lock'))).to.equal(true);
    expect(isProcessAlive(record.handlerPid), 'the killed run left its handler running').to.equal(true);

    const next = await harness.runJoin();
    expect(next.exitCode, next.stderr).to.equal(EXIT_CODES.ok);
    expect(next.stderr).to.include(`Stopping the handler command an earlier run left running (pid ${record.handlerPid}`);
    // An orphan may linger a moment before it is reaped.
    expect(await waitForProcessExit(record.pid, 5_000), `the killed run's proxy (pid ${record.pid}) still runs`).to.equal(true);
    expect(await waitForProcessExit(record.handlerPid, 5_000), `the killed run's handler (pid ${record.handlerPid}) still runs`).to.equal(true);
    expect(existsSync(pidFile)).to.equal(false);
  });

  it('two runs at once: the second refuses with exit 3 and changes nothing', async () => {
    const first = harness.spawnJoin([], { FAKE_HANDLER_MODE: 'hang' });
    await waitForOutput(first, /handler: AADJoin transitioning/);
    const second = await harness.runJoin();
    expect(second.exitCode, second.stderr).to.equal(EXIT_CODES.preflightFailed);
    expect(second.stderr).to.match(/Another himdsproxy join is running/);
    first.kill('SIGINT');
    expect((await first).exitCode).to.equal(EXIT_CODES.interrupted);
  });

  it('the listen port is taken: preflight names what answers there, exit 3, the handler never runs', async () => {
    const result = await harness.runJoin(['--listen', `127.0.0.1:${harness.emulator.port}`]);
    expect(result.exitCode, result.stderr).to.equal(EXIT_CODES.preflightFailed);
    // The emulator answers like Azure IMDS does, so the probe takes this port for an Azure VM's IMDS.
    expect(result.stderr).to.match(/Metadata address: Azure IMDS answers at 127\.0\.0\.1:\d+/);
    expect(existsSync(harness.path('Logs', 'Plugins'))).to.equal(false);
  });

  it('usage errors: exit 2 with a clear message, nothing written', async () => {
    for (const [extra, pattern] of [
      [['--listen', 'nonsense'], /--listen must be HOST:PORT/],
      [['--sha256', 'xyz'], /--sha256 must be 64 hexadecimal characters/],
      [['--timeout', 'soon'], /--timeout must be a duration/],
      [['--frobnicate'], /Unknown argument/i],
    ] as const) {
      const result = await harness.runJoin([...extra]);
      expect(result.exitCode, `${extra.join(' ')}: ${result.stderr}`).to.equal(EXIT_CODES.usage);
      expect(result.stderr).to.match(pattern);
    }
    expect(existsSync(harness.workdir)).to.equal(false);
  });

  it('a handler zip without HandlerManifest.json, or not a zip at all: exit 4 naming the problem', async () => {
    harness.serveHandlerZip(await buildZip([{ name: 'readme.txt', content: 'no manifest here' }]));
    const noManifest = await harness.runJoin();
    expect(noManifest.exitCode, noManifest.stderr).to.equal(EXIT_CODES.packageFailed);
    expect(noManifest.stderr).to.include('HandlerManifest.json');

    harness.serveHandlerZip(Buffer.from('<html>Access denied</html>'));
    const notZip = await harness.runJoin();
    expect(notZip.exitCode, notZip.stderr).to.equal(EXIT_CODES.packageFailed);
    expect(existsSync(harness.path(...PACKAGE))).to.equal(false);
  });
});
