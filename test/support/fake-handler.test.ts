// Runs the real fake handler program against a tiny IMDS-like server on loopback, through the configure, handler and status steps.
import { expect } from 'chai';
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yauzl from 'yauzl';
import { EXIT_CODES, HimdsproxyError } from '../../orchestrator/errors.js';
import { MemoryReporter } from '../../orchestrator/reporter.js';
import { configureHandler } from '../../orchestrator/steps/configure.js';
import { installOnce, runHandlerCommand, type HandlerCommandContext } from '../../orchestrator/steps/handler.js';
import { followStatus, parseStatusFile, type HandlerStatus } from '../../orchestrator/steps/status.js';
import { DEFAULT_HANDLER, handlerPaths, type HandlerPaths } from '../../orchestrator/work-folder.js';
import { buildFakeHandlerZip, copyFakeHandlerTo, FAKE_HANDLER_DIRECTORY } from './fake-handler-package.js';

const SECRET_TOKEN = 'fake-handler-test-secret-token-8f3a1c';
const TENANT_ID = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const MSI_TENANT_UNAVAILABLE = -2145648574;

/** Answers like IMDS, records what it was asked, and fails on request. */
class TinyImds {
  readonly requests: { url: string; metadata: string | undefined }[] = [];
  failures: Partial<Record<'instance' | 'info' | 'token', number>> = {};
  tokenBody: Record<string, unknown> = {
    access_token: SECRET_TOKEN,
    expires_on: '1999999999',
    resource: 'urn:ms-drs:enterpriseregistration.windows.net',
    token_type: 'Bearer',
  };
  private readonly server: Server = createServer((request, response) => this.answer(request, response));
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private answer(request: IncomingMessage, response: ServerResponse): void {
    const url = request.url ?? '';
    const metadata = request.headers.metadata as string | undefined;
    this.requests.push({ url, metadata });
    const send = (status: number, body: unknown): void => {
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (metadata?.toLowerCase() !== 'true') return send(400, { error: 'Bad request. Required metadata header not specified' });
    const path = url.split('?')[0];
    const route = path === '/metadata/instance' ? 'instance' : path === '/metadata/identity/info' ? 'info' : path === '/metadata/identity/oauth2/token' ? 'token' : undefined;
    if (!route) return send(404, { error: 'Not found' });
    const failure = this.failures[route];
    if (failure) return send(failure, { error: 'server_error', error_description: `failing ${route} on purpose` });
    if (route === 'instance') return send(200, { compute: { subscriptionId: 'sub', resourceGroupName: 'rg', name: 'arc-server', osType: 'windows' }, network: {} });
    if (route === 'info') return send(200, { tenantId: TENANT_ID });
    return send(200, this.tokenBody);
  }
}

describe('fake handler (real program, real files, loopback IMDS)', function () {
  let workdir: string;
  let paths: HandlerPaths;
  let imds: TinyImds;
  let sequenceNumber: number;
  let outputLog: string;

  before(function () {
    // bin/fake-handler is a #!/bin/sh script.
    if (process.platform === 'win32') this.skip();
  });

  beforeEach(async () => {
    workdir = await mkdtemp(join(tmpdir(), 'himdsproxy-fake-handler-'));
    paths = handlerPaths(workdir, DEFAULT_HANDLER.name, '0.0.1');
    await copyFakeHandlerTo(paths.packageDirectory);
    ({ sequenceNumber } = await configureHandler(paths, DEFAULT_HANDLER.name, { mdmId: '' }, new MemoryReporter()));
    outputLog = join(workdir, 'Logs', 'himdsproxy', 'run', 'handler.log');
    imds = new TinyImds();
    await imds.start();
  });

  afterEach(async () => {
    await imds.stop();
    await rm(workdir, { recursive: true, force: true });
  });

  function statusFile(number = sequenceNumber): string {
    return join(paths.statusDirectory, `${number}.status`);
  }

  function contextFor(mode: string, extra: Partial<HandlerCommandContext> = {}): HandlerCommandContext {
    return {
      paths,
      sequenceNumber,
      outputLog,
      timeoutMs: 15_000,
      reporter: new MemoryReporter(),
      env: { FAKE_HANDLER_IMDS_URL: imds.url, FAKE_HANDLER_MODE: mode, FAKE_HANDLER_STEP_MS: '50' },
      ...extra,
    };
  }

  /** Runs the handler program directly, to look at exit codes and stderr. */
  function runDirectly(operation: string, env: Record<string, string | undefined>) {
    return execa(join(paths.packageDirectory, 'bin', 'fake-handler'), [operation], {
      cwd: paths.packageDirectory,
      env: { FAKE_HANDLER_IMDS_URL: imds.url, FAKE_HANDLER_STEP_MS: '50', ...env },
      reject: false,
    });
  }

  async function enableAndFollow(mode: string, extra: Partial<HandlerCommandContext> = {}): Promise<{ final: HandlerStatus; seen: HandlerStatus[] }> {
    const seen: HandlerStatus[] = [];
    const context = contextFor(mode, extra);
    await runHandlerCommand('enable', 'bin/fake-handler enable', context);
    const final = await followStatus(statusFile(), { timeoutMs: 5000, pollIntervalMs: 20, reporter: context.reporter, onStatus: (status) => seen.push(status) });
    return { final, seen };
  }

  async function handlerLog(): Promise<string> {
    return readFile(join(paths.handlerLogDirectory, 'fake-handler.log'), 'utf8');
  }

  it('joins: makes the three IMDS calls with Metadata: true and reports success the Windows way', async () => {
    const { final } = await enableAndFollow('success');
    expect(final).to.include({ status: 'success', message: 'Successfully joined machine to AAD.', operation: 'AADJoin', code: 0, name: DEFAULT_HANDLER.name });
    expect(imds.requests).to.deep.equal([
      { url: '/metadata/instance?api-version=2017-08-01', metadata: 'true' },
      { url: '/metadata/identity/info?api-version=2018-02-01', metadata: 'true' },
      { url: '/metadata/identity/oauth2/token?resource=urn%3Ams-drs%3Aenterpriseregistration.windows.net&api-version=2018-02-01', metadata: 'true' },
    ]);
    const raw = await readFile(statusFile(), 'utf8');
    expect(raw).to.match(/"timestampUTC":"\\\/Date\(\d+\)\\\/"/);
    expect(raw).to.include('"formattedMessage":{"lang":"en-US","message":"Successfully joined machine to AAD."}');
    // The token is checked, never written down.
    const log = await handlerLog();
    expect(log).to.include(TENANT_ID);
    expect(log.includes(SECRET_TOKEN)).to.equal(false);
    expect(raw.includes(SECRET_TOKEN)).to.equal(false);
    expect((await readFile(outputLog, 'utf8')).includes(SECRET_TOKEN)).to.equal(false);
  });

  it('also finds IMDS through HIMDSPROXY_IMDS_URL, the variable join passes', async () => {
    const { final } = await enableAndFollow('success', { env: { HIMDSPROXY_IMDS_URL: `${imds.url}/` } });
    expect(final.status).to.equal('success');
    expect(imds.requests).to.have.length(3);
  });

  it('install exits 0 and records itself in its log folder; installOnce then skips it', async () => {
    const context = contextFor('success');
    expect(await installOnce('bin/fake-handler install', 'a'.repeat(64), context)).to.deep.equal({ ran: true });
    expect(await installOnce('bin/fake-handler install', 'a'.repeat(64), context)).to.deep.equal({ ran: false });
    expect((await handlerLog()).match(/install succeeded/g)).to.have.length(1);
  });

  it('install-exit mode: install fails with exit code 4 and nothing is recorded', async () => {
    let caught: unknown;
    await installOnce('bin/fake-handler install', 'a'.repeat(64), contextFor('install-exit')).catch((error: unknown) => { caught = error; });
    expect(caught).to.be.instanceOf(HimdsproxyError);
    expect((caught as HimdsproxyError).message).to.equal("Handler install command 'bin/fake-handler install' exited with code 4");
    expect(await readFile(paths.installedMarker, 'utf8').catch(() => 'no marker')).to.equal('no marker');
  });

  it('error mode: reports error with the DSREG code and makes no IMDS calls', async () => {
    const { final, seen } = await enableAndFollow('error');
    expect(final).to.include({ status: 'error', code: MSI_TENANT_UNAVAILABLE });
    expect(final.message).to.include('DSREG_E_MSI_TENANTID_UNAVAILABLE');
    expect(seen.map((status) => status.status)).to.deep.equal(['error']);
    expect(imds.requests).to.deep.equal([]);
  });

  for (const route of ['instance', 'info', 'token'] as const) {
    it(`reports error when IMDS ${route} answers 500, naming the call but not echoing the body`, async () => {
      imds.failures[route] = 500;
      const { final } = await enableAndFollow('success');
      expect(final).to.include({ status: 'error', code: MSI_TENANT_UNAVAILABLE });
      expect(final.message).to.match(/answered 500 server_error$/);
      expect(final.message).not.to.include('on purpose');
    });
  }

  it('reports error when the token response has no access_token', async () => {
    imds.tokenBody = { expires_on: '1' };
    const { final } = await enableAndFollow('success');
    expect(final.status).to.equal('error');
    expect(final.message).to.include('no access_token');
  });

  it('reports error when the token is for another resource', async () => {
    imds.tokenBody = { ...imds.tokenBody, resource: 'https://management.azure.com/' };
    const { final } = await enableAndFollow('success');
    expect(final.status).to.equal('error');
    expect(final.message).to.include('https://management.azure.com/');
  });

  it('reports error when IMDS does not answer at all', async () => {
    await imds.stop();
    const { final } = await enableAndFollow('success');
    expect(final.status).to.equal('error');
    expect(final.message).to.include('no answer');
    imds = new TinyImds();
    await imds.start();
  });

  it('hang mode: writes transitioning and keeps running until the enable timeout stops it', async () => {
    let caught: unknown;
    await runHandlerCommand('enable', 'bin/fake-handler enable', contextFor('hang', { timeoutMs: 1500 })).catch((error: unknown) => { caught = error; });
    expect((caught as HimdsproxyError).exitCode).to.equal(EXIT_CODES.timedOut);
    expect(parseStatusFile(await readFile(statusFile(), 'utf8'))?.status).to.equal('transitioning');
  });

  it('stall mode: exits 0 leaving transitioning, so only the status timeout ends the wait', async () => {
    await runHandlerCommand('enable', 'bin/fake-handler enable', contextFor('stall'));
    let caught: unknown;
    await followStatus(statusFile(), { timeoutMs: 300, pollIntervalMs: 20, reporter: new MemoryReporter(), onStatus: () => undefined }).catch((error: unknown) => { caught = error; });
    expect((caught as HimdsproxyError).exitCode).to.equal(EXIT_CODES.timedOut);
    expect((caught as HimdsproxyError).message).to.include("'transitioning': Joining machine to AAD.");
  });

  it('enable-exit mode: exits 3 without writing a status', async () => {
    let caught: unknown;
    await runHandlerCommand('enable', 'bin/fake-handler enable', contextFor('enable-exit')).catch((error: unknown) => { caught = error; });
    expect((caught as HimdsproxyError).message).to.equal("Handler enable command 'bin/fake-handler enable' exited with code 3");
    expect(await readFile(statusFile(), 'utf8').catch(() => 'no status')).to.equal('no status');
    expect(await readFile(outputLog, 'utf8')).to.include('enable failing on purpose');
  });

  it('garbage-status mode: garbage, then half a file, then a valid success that the follower reaches', async () => {
    const seen: HandlerStatus[] = [];
    const context = contextFor('garbage-status', { env: { FAKE_HANDLER_IMDS_URL: imds.url, FAKE_HANDLER_MODE: 'garbage-status', FAKE_HANDLER_STEP_MS: '400' } });
    const following = followStatus(statusFile(), { timeoutMs: 10_000, pollIntervalMs: 20, reporter: context.reporter, onStatus: (status) => seen.push(status) });
    await runHandlerCommand('enable', 'bin/fake-handler enable', context);
    expect((await following).status).to.equal('success');
    expect(seen.map((status) => status.status)).to.deep.equal(['transitioning', 'success']);
    expect((context.reporter as MemoryReporter).text()).to.include('not a complete status yet');
  });

  it('bom-status mode: the success status starts with a UTF-8 BOM and still reads', async () => {
    const { final } = await enableAndFollow('bom-status');
    expect(final.status).to.equal('success');
    const bytes = await readFile(statusFile());
    expect(bytes.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf]))).to.equal(true);
  });

  it('slow mode: several transitioning updates before success, each seen once', async () => {
    const seen: HandlerStatus[] = [];
    const context = contextFor('slow', { env: { FAKE_HANDLER_IMDS_URL: imds.url, FAKE_HANDLER_MODE: 'slow', FAKE_HANDLER_STEP_MS: '300' } });
    const following = followStatus(statusFile(), { timeoutMs: 10_000, pollIntervalMs: 20, reporter: context.reporter, onStatus: (status) => seen.push(status) });
    await runHandlerCommand('enable', 'bin/fake-handler enable', context);
    await following;
    expect(seen.map((status) => `${status.status}: ${status.message}`)).to.deep.equal([
      'transitioning: Joining machine to AAD.',
      'transitioning: Reading instance metadata.',
      'transitioning: Asking for the tenant.',
      'transitioning: Registering the device.',
      'success: Successfully joined machine to AAD.',
    ]);
  });

  it('without ConfigSequenceNumber, uses the newest .settings file', async () => {
    const { sequenceNumber: second } = await configureHandler(paths, DEFAULT_HANDLER.name, { mdmId: 'x' }, new MemoryReporter());
    // Make the first settings file look older, as it would be.
    const past = new Date(Date.now() - 60_000);
    await utimes(join(paths.runtimeSettingsDirectory, `${sequenceNumber}.settings`), past, past);
    const result = await runDirectly('enable', { FAKE_HANDLER_MODE: 'success' });
    expect(result.exitCode).to.equal(0);
    expect(parseStatusFile(await readFile(statusFile(second), 'utf8'))?.status).to.equal('success');
    expect(await readFile(statusFile(sequenceNumber), 'utf8').catch(() => 'none')).to.equal('none');
  });

  it('reports error when the settings lack mdmId', async () => {
    await writeFile(join(paths.runtimeSettingsDirectory, `${sequenceNumber}.settings`), JSON.stringify({ runtimeSettings: [{ handlerSettings: { publicSettings: {} } }] }));
    const { final } = await enableAndFollow('success');
    expect(final.status).to.equal('error');
    expect(final.message).to.include('mdmId');
    expect(imds.requests).to.deep.equal([]);
  });

  const brokenEnvironments: [string, (valid: string) => string | undefined, string][] = [
    ['missing', () => undefined, 'cannot read'],
    ['prefixed with a BOM', (valid) => `\uFEFF${valid}`, 'byte order mark'],
    ['not JSON', () => '{ nope', 'not JSON'],
    ['two objects', (valid) => JSON.stringify([...(JSON.parse(valid) as unknown[]), ...(JSON.parse(valid) as unknown[])]), 'exactly one object'],
    ['a bare object', (valid) => JSON.stringify((JSON.parse(valid) as unknown[])[0]), 'exactly one object'],
    ['written with deploymentId in camel case', (valid) => valid.replace('"deploymentid"', '"deploymentId"'), 'deploymentid (lower case)'],
    ['without statusFolder', (valid) => valid.replace('"statusFolder"', '"statusFolderX"'), 'handlerEnvironment.statusFolder'],
    ['with version 2', (valid) => valid.replace('"version": 1.0', '"version": 2'), 'version must be 1.0'],
  ];
  for (const [label, corrupt, expected] of brokenEnvironments) {
    it(`fails loudly (exit 2) when HandlerEnvironment.json is ${label}`, async () => {
      const valid = await readFile(paths.handlerEnvironmentFile, 'utf8');
      const replacement = corrupt(valid);
      await rm(paths.handlerEnvironmentFile);
      if (replacement !== undefined) await writeFile(paths.handlerEnvironmentFile, replacement);
      const result = await runDirectly('enable', { ConfigSequenceNumber: String(sequenceNumber) });
      expect(result.exitCode).to.equal(2);
      expect(result.stderr).to.include(expected);
      expect(await readFile(statusFile(), 'utf8').catch(() => 'no status')).to.equal('no status');
    });
  }

  for (const [label, env, expected] of [
    ['an unknown mode', { FAKE_HANDLER_MODE: 'explode' }, "unknown FAKE_HANDLER_MODE 'explode'"],
    ['a ConfigSequenceNumber that is not a number', { ConfigSequenceNumber: '../1' }, 'ConfigSequenceNumber must be a whole number'],
    ['an unknown operation', { }, "unknown operation 'frobnicate'"],
  ] as const) {
    it(`fails loudly (exit 2) on ${label}`, async () => {
      const result = await runDirectly(label === 'an unknown operation' ? 'frobnicate' : 'enable', env);
      expect(result.exitCode).to.equal(2);
      expect(result.stderr).to.include(expected);
    });
  }
});

describe('buildFakeHandlerZip', () => {
  let directory: string;
  beforeEach(async () => { directory = await mkdtemp(join(tmpdir(), 'himdsproxy-fake-zip-')); });
  afterEach(async () => { await rm(directory, { recursive: true, force: true }); });

  it('packs the manifest and program at the root, keeps the exec bit, and reports the real SHA-256', async () => {
    const zipFile = join(directory, 'nested', 'fake.zip');
    const { sha256 } = await buildFakeHandlerZip(zipFile);
    const bytes = await readFile(zipFile);
    expect(sha256).to.equal(createHash('sha256').update(bytes).digest('hex'));
    const entries = await zipEntries(bytes);
    expect(entries.map((entry) => entry.name).sort()).to.deep.equal(['HandlerManifest.json', 'bin/fake-handler', 'bin/fake-handler.mjs']);
    const modeOf = (name: string): number => ((entries.find((entry) => entry.name === name)?.attributes ?? 0) >>> 16) & 0o777;
    expect(modeOf('bin/fake-handler')).to.equal(0o755);
    expect(modeOf('bin/fake-handler.mjs')).to.equal(0o644);
    const manifest = JSON.parse(await readFile(join(FAKE_HANDLER_DIRECTORY, 'HandlerManifest.json'), 'utf8')) as [{ handlerManifest: Record<string, unknown> }];
    expect(manifest[0].handlerManifest.enableCommand).to.equal('bin/fake-handler enable');
  });

  it('gives the same bytes every time', async () => {
    const first = await buildFakeHandlerZip(join(directory, 'a.zip'));
    const second = await buildFakeHandlerZip(join(directory, 'b.zip'));
    expect(first.sha256).to.equal(second.sha256);
  });
});

function zipEntries(bytes: Buffer): Promise<{ name: string; attributes: number }[]> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(bytes, { lazyEntries: false }, (error, zip) => {
      if (error || !zip) return reject(error ?? new Error('no zip'));
      const entries: { name: string; attributes: number }[] = [];
      zip.on('entry', (entry: yauzl.Entry) => entries.push({ name: entry.fileName, attributes: entry.externalFileAttributes }));
      zip.on('end', () => resolve(entries));
      zip.on('error', reject);
    });
  });
}
