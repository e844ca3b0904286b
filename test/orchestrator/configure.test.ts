// Tests the configure step: HandlerEnvironment.json, RuntimeSettings/<n>.settings and sequence numbers, on real files.
import { expect } from 'chai';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configureHandler, nextSequenceNumber } from '../../orchestrator/steps/configure.js';
import { buildHandlerEnvironment, buildRuntimeSettings, nextSequenceNumberAfter } from '../../orchestrator/handler-files.js';
import { MemoryReporter } from '../../orchestrator/reporter.js';
import { DEFAULT_HANDLER, handlerPaths, type HandlerPaths } from '../../orchestrator/work-folder.js';
import { HimdsproxyError, EXIT_CODES } from '../../orchestrator/errors.js';

describe('handler files (pure builders)', () => {
  const paths = handlerPaths('/work', DEFAULT_HANDLER.name, '1.2.3');

  it('builds HandlerEnvironment.json exactly as PROTOCOLS.md §3 describes', () => {
    const text = buildHandlerEnvironment(DEFAULT_HANDLER.name, paths);
    const parsed = JSON.parse(text) as unknown[];
    expect(parsed).to.deep.equal([
      {
        name: DEFAULT_HANDLER.name,
        version: 1,
        handlerEnvironment: {
          logFolder: paths.handlerLogDirectory,
          configFolder: paths.runtimeSettingsDirectory,
          statusFolder: paths.statusDirectory,
          heartbeatFile: paths.heartbeatFile,
          eventsFolder: paths.eventsDirectory,
          deploymentid: '',
          rolename: '',
          instance: '',
          hostResolverAddress: '',
        },
      },
    ]);
    expect(text).to.match(/"version": 1\.0,/);
    expect(text).to.include('"deploymentid"');
    expect(text).not.to.include('deploymentId');
  });

  it('keeps Windows paths intact (backslashes escaped, not mangled)', () => {
    const windowsPaths: HandlerPaths = { ...paths, statusDirectory: 'C:\\work\\Packages\\Status' };
    const parsed = JSON.parse(buildHandlerEnvironment('A.B', windowsPaths)) as [{ handlerEnvironment: { statusFolder: string } }];
    expect(parsed[0].handlerEnvironment.statusFolder).to.equal('C:\\work\\Packages\\Status');
  });

  for (const name of ['Evil"Name\\x', '__himdsproxy_handler_environment_version__', '"version": "x"']) {
    it(`does not let the handler name ${JSON.stringify(name)} break the JSON or the version`, () => {
      const parsed = JSON.parse(buildHandlerEnvironment(name, paths)) as [{ name: string; version: number }];
      expect(parsed[0].name).to.equal(name);
      expect(parsed[0].version).to.equal(1);
    });
  }

  it('builds runtime settings with exactly one entry', () => {
    expect(JSON.parse(buildRuntimeSettings({ mdmId: '' }))).to.deep.equal({
      runtimeSettings: [{ handlerSettings: { publicSettings: { mdmId: '' } } }],
    });
    expect(JSON.parse(buildRuntimeSettings({ mdmId: '0000000a-0000-0000-c000-000000000000' }))).to.deep.equal({
      runtimeSettings: [{ handlerSettings: { publicSettings: { mdmId: '0000000a-0000-0000-c000-000000000000' } } }],
    });
  });

  const sequenceCases: [string[], number][] = [
    [[], 0],
    [['0.settings'], 1],
    [['0.settings', '1.settings', '2.status'], 3],
    [['7.status'], 8],
    [['10.settings', '9.settings'], 11],
    [['abc.settings', 'x1.status', '1.settings.tmp', '.3.settings.123.tmp', 'HandlerEnvironment.json'], 0],
    [['-5.settings', '1e3.settings', '2.5.settings', ' 4.settings'], 0],
    [['99999999999999999999999.settings', '4.settings'], 5],
    [['005.settings'], 6],
  ];
  for (const [names, expected] of sequenceCases) {
    it(`next sequence number after ${JSON.stringify(names)} is ${expected}`, () => {
      expect(nextSequenceNumberAfter(names)).to.equal(expected);
    });
  }
});

describe('configureHandler', () => {
  let workdir: string;
  let paths: HandlerPaths;

  beforeEach(async () => {
    workdir = await mkdtemp(join(tmpdir(), 'himdsproxy-configure-'));
    paths = handlerPaths(workdir, DEFAULT_HANDLER.name, '1.0.0');
    await mkdir(paths.packageDirectory, { recursive: true });
  });
  afterEach(async () => {
    await rm(workdir, { recursive: true, force: true });
  });

  it('creates the folders and writes sequence 0 on a fresh package', async () => {
    const reporter = new MemoryReporter();
    const result = await configureHandler(paths, DEFAULT_HANDLER.name, { mdmId: '' }, reporter);
    expect(result).to.deep.equal({ sequenceNumber: 0, settingsFile: join(paths.runtimeSettingsDirectory, '0.settings') });
    for (const directory of [paths.runtimeSettingsDirectory, paths.statusDirectory, paths.handlerLogDirectory, paths.eventsDirectory]) {
      expect(await readdir(directory)).to.be.an('array');
    }
    const environmentBytes = await readFile(paths.handlerEnvironmentFile);
    expect(environmentBytes.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf]))).to.equal(false);
    expect(environmentBytes.toString('utf8')).to.equal(buildHandlerEnvironment(DEFAULT_HANDLER.name, paths));
    expect(await readFile(result.settingsFile, 'utf8')).to.equal(buildRuntimeSettings({ mdmId: '' }));
    expect(reporter.text()).to.include('sequence number 0');
  });

  it('writes one above the highest settings or status file, leaving the older ones alone', async () => {
    await mkdir(paths.runtimeSettingsDirectory, { recursive: true });
    await mkdir(paths.statusDirectory, { recursive: true });
    await writeFile(join(paths.runtimeSettingsDirectory, '2.settings'), 'old');
    await writeFile(join(paths.statusDirectory, '4.status'), 'old status');
    await writeFile(join(paths.statusDirectory, 'garbage.status'), 'x');
    expect(await nextSequenceNumber(paths)).to.equal(5);

    const result = await configureHandler(paths, DEFAULT_HANDLER.name, { mdmId: 'mdm' }, new MemoryReporter());
    expect(result.sequenceNumber).to.equal(5);
    expect(await readFile(join(paths.runtimeSettingsDirectory, '2.settings'), 'utf8')).to.equal('old');
    expect((await readdir(paths.runtimeSettingsDirectory)).sort()).to.deep.equal(['2.settings', '5.settings']);
  });

  it('counts up on every rerun and overwrites HandlerEnvironment.json', async () => {
    await writeFile(paths.handlerEnvironmentFile, 'stale, not JSON');
    const reporter = new MemoryReporter();
    const first = await configureHandler(paths, DEFAULT_HANDLER.name, { mdmId: '' }, reporter);
    const second = await configureHandler(paths, DEFAULT_HANDLER.name, { mdmId: '' }, reporter);
    expect([first.sequenceNumber, second.sequenceNumber]).to.deep.equal([0, 1]);
    expect(JSON.parse(await readFile(paths.handlerEnvironmentFile, 'utf8'))).to.be.an('array').with.length(1);
    // No temporary files are left behind.
    expect((await readdir(paths.packageDirectory)).filter((name) => name.endsWith('.tmp'))).to.deep.equal([]);
    expect((await readdir(paths.runtimeSettingsDirectory)).filter((name) => name.endsWith('.tmp'))).to.deep.equal([]);
  });

  it('fails with a HimdsproxyError when the work folder cannot be written', async () => {
    // A file where the status folder should be makes mkdir fail on every platform and user.
    await writeFile(join(paths.packageDirectory, 'Status'), 'in the way');
    const error = await configureHandler(paths, DEFAULT_HANDLER.name, { mdmId: '' }, new MemoryReporter()).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).to.be.instanceOf(HimdsproxyError);
    expect((error as HimdsproxyError).exitCode).to.equal(EXIT_CODES.internal);
    expect((error as HimdsproxyError).message).to.include(paths.packageDirectory);
  });
});
