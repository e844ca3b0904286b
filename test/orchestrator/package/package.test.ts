// The package step end to end: real loopback server, real zips, real work folders, reruns and failures.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { EXIT_CODES, HimdsproxyError } from '../../../orchestrator/errors.js';
import { MemoryReporter } from '../../../orchestrator/reporter.js';
import { packageRecordFile } from '../../../orchestrator/steps/package/package-state.js';
import { preparePackage, type PackageSource, type PreparePackageOptions } from '../../../orchestrator/steps/package/package.js';
import { handlerPaths } from '../../../orchestrator/work-folder.js';
import { DownloadServer } from '../../support/download-server.js';
import { FAKE_HANDLER_SCRIPT, buildRawHandlerZip, buildZip, fakeHandlerEntries, type RawZipEntry } from '../../support/zip-fixtures.js';

const HANDLER = 'Test.Publisher.FakeHandler';
const VERSION = '1.0.0';
const fast: PreparePackageOptions = { showProgress: false, retries: 2, retryDelayMs: 5, downloadTimeoutMs: 5_000 };

function sha256(buffer: Buffer): string {
  return createHash('sha256').update(buffer).digest('hex');
}

describe('package step (preparePackage)', () => {
  let workdir: string;
  let server: DownloadServer;
  let reporter: MemoryReporter;
  let goodZip: Buffer;
  const paths = () => handlerPaths(workdir, HANDLER, VERSION);
  const pluginsDirectory = () => dirname(paths().packageDirectory);

  before(async () => {
    goodZip = await buildZip(fakeHandlerEntries());
  });

  beforeEach(async () => {
    workdir = await mkdtemp(join(tmpdir(), 'himdsproxy-package-'));
    server = await new DownloadServer().start();
    server.serve('/pkg.zip', goodZip);
    reporter = new MemoryReporter();
  });

  afterEach(async () => {
    await server.close();
    await rm(workdir, { recursive: true, force: true });
  });

  function fromServer(extra: Partial<PackageSource> = {}): PackageSource {
    return { handlerName: HANDLER, version: VERSION, url: server.url('/pkg.zip'), sha256: sha256(goodZip), ...extra };
  }

  async function failure(source: PackageSource, options: PreparePackageOptions = fast): Promise<HimdsproxyError> {
    const error = await preparePackage(workdir, source, reporter, options).catch((caught: unknown) => caught);
    if (!(error instanceof HimdsproxyError)) throw error;
    return error;
  }

  async function pluginsListing(): Promise<string[]> {
    try {
      return (await readdir(pluginsDirectory())).sort();
    } catch {
      return [];
    }
  }

  async function writeZipFile(name: string, content: Buffer): Promise<string> {
    const path = join(workdir, name);
    await writeFile(path, content);
    return path;
  }

  it('downloads, verifies, extracts, keeps the zip and records the package', async () => {
    const prepared = await preparePackage(workdir, fromServer(), reporter, fast);
    expect(prepared.reused).to.equal(false);
    expect(prepared.zipSha256).to.equal(sha256(goodZip));
    expect(prepared.paths).to.deep.equal(paths());
    expect(prepared.manifest).to.deep.equal({
      installCommand: 'bin/handler.sh install',
      enableCommand: 'bin/handler.sh enable',
      uninstallCommand: 'bin/handler.sh uninstall',
      rebootAfterInstall: false,
      reportHeartbeat: false,
    });
    expect(await readFile(join(paths().packageDirectory, 'bin', 'handler.sh'), 'utf8')).to.equal(FAKE_HANDLER_SCRIPT);
    expect((await readFile(paths().packageZip)).equals(goodZip)).to.equal(true);
    expect(await pluginsListing()).to.deep.equal([`${VERSION}`, `${VERSION}.package.json`, `${VERSION}.zip`]);
    const record = JSON.parse(await readFile(packageRecordFile(paths()), 'utf8')) as { zipSha256: string; files: Record<string, string> };
    expect(record.zipSha256).to.equal(sha256(goodZip));
    expect(Object.keys(record.files)).to.have.members(['HandlerManifest.json', 'bin/handler.sh', 'bin/data/readme.txt']);
    expect(reporter.text()).to.include(`SHA-256 verified: ${sha256(goodZip)}`);
    expect(server.requestsFor('/pkg.zip')).to.equal(1);
  });

  it('keeps the execute bit of the handler script', async function () {
    if (process.platform === 'win32') this.skip();
    await preparePackage(workdir, fromServer(), reporter, fast);
    expect((await stat(join(paths().packageDirectory, 'bin', 'handler.sh'))).mode & 0o111).to.not.equal(0);
  });

  it('reuses the verified package on a rerun without asking the server again', async () => {
    await preparePackage(workdir, fromServer(), reporter, fast);
    const rerun = await preparePackage(workdir, fromServer(), reporter, fast);
    expect(rerun.reused).to.equal(true);
    expect(rerun.zipSha256).to.equal(sha256(goodZip));
    expect(rerun.manifest.enableCommand).to.equal('bin/handler.sh enable');
    expect(server.requestsFor('/pkg.zip')).to.equal(1);
    // Without --sha256 a rerun still reuses: the record vouches for the files.
    expect((await preparePackage(workdir, fromServer({ sha256: undefined }), reporter, fast)).reused).to.equal(true);
    expect(server.requestsFor('/pkg.zip')).to.equal(1);
  });

  it('replaces a package whose extracted file was changed, from the kept zip, keeping runtime files', async () => {
    await preparePackage(workdir, fromServer(), reporter, fast);
    const script = join(paths().packageDirectory, 'bin', 'handler.sh');
    await writeFile(script, '#!/bin/sh\necho tampered\n');
    await mkdir(paths().runtimeSettingsDirectory, { recursive: true });
    await writeFile(join(paths().runtimeSettingsDirectory, '3.settings'), '{"runtimeSettings":[]}');
    await writeFile(paths().handlerEnvironmentFile, '[{"name":"x"}]');
    await mkdir(paths().statusDirectory, { recursive: true });
    await writeFile(join(paths().statusDirectory, '3.status'), '[]');

    const rerun = await preparePackage(workdir, fromServer(), reporter, fast);
    expect(rerun.reused).to.equal(false);
    expect(await readFile(script, 'utf8')).to.equal(FAKE_HANDLER_SCRIPT);
    expect(reporter.text()).to.match(/cannot be reused: bin\/handler\.sh has changed since it was extracted; replacing it/);
    expect(server.requestsFor('/pkg.zip')).to.equal(1);
    expect(await readFile(join(paths().runtimeSettingsDirectory, '3.settings'), 'utf8')).to.equal('{"runtimeSettings":[]}');
    expect(await readFile(paths().handlerEnvironmentFile, 'utf8')).to.equal('[{"name":"x"}]');
    expect(await readFile(join(paths().statusDirectory, '3.status'), 'utf8')).to.equal('[]');
    expect(await pluginsListing()).to.deep.equal([`${VERSION}`, `${VERSION}.package.json`, `${VERSION}.zip`]);
    expect((await preparePackage(workdir, fromServer(), reporter, fast)).reused).to.equal(true);
  });

  it('downloads again when both an extracted file and the kept zip are damaged', async () => {
    await preparePackage(workdir, fromServer(), reporter, fast);
    await rm(join(paths().packageDirectory, 'HandlerManifest.json'));
    await writeFile(paths().packageZip, goodZip.subarray(0, 100));
    const rerun = await preparePackage(workdir, fromServer(), reporter, fast);
    expect(rerun.reused).to.equal(false);
    expect(reporter.text()).to.match(/HandlerManifest\.json is missing/);
    expect(server.requestsFor('/pkg.zip')).to.equal(2);
    expect((await readFile(paths().packageZip)).equals(goodZip)).to.equal(true);
  });

  it('ignores and removes a half-written download, a half-done extraction and an unrecorded package folder', async () => {
    await mkdir(paths().packageDirectory, { recursive: true });
    await writeFile(join(paths().packageDirectory, 'HandlerManifest.json'), '[{"handlerManifest":{"installCommand":"evil","enableCommand":"evil"}}]');
    await writeFile(join(pluginsDirectory(), `${VERSION}.zip.0badf00d.download`), goodZip.subarray(0, 50));
    await mkdir(join(pluginsDirectory(), `${VERSION}.deadbeef.extracting`, 'bin'), { recursive: true });
    // Another version's temporary files are not ours to touch.
    await writeFile(join(pluginsDirectory(), `${VERSION}.5.zip.0badf00d.download`), 'other version');

    const prepared = await preparePackage(workdir, fromServer(), reporter, fast);
    expect(prepared.reused).to.equal(false);
    expect(prepared.manifest.enableCommand).to.equal('bin/handler.sh enable');
    expect(await pluginsListing()).to.deep.equal([`${VERSION}`, `${VERSION}.5.zip.0badf00d.download`, `${VERSION}.package.json`, `${VERSION}.zip`]);
    expect(reporter.text()).to.include(`Removing ${VERSION}.zip.0badf00d.download, left behind by an interrupted run`);
  });

  it('treats a truncated kept zip without a record as a leftover, not as the package', async () => {
    await mkdir(pluginsDirectory(), { recursive: true });
    await writeFile(paths().packageZip, goodZip.subarray(0, goodZip.length - 10));
    const prepared = await preparePackage(workdir, fromServer(), reporter, fast);
    expect(prepared.reused).to.equal(false);
    expect(server.requestsFor('/pkg.zip')).to.equal(1);
    expect((await readFile(paths().packageZip)).equals(goodZip)).to.equal(true);
  });

  it('puts back a package folder a crashed run had moved aside, keeping its settings sequence', async () => {
    await preparePackage(workdir, fromServer(), reporter, fast);
    await mkdir(paths().runtimeSettingsDirectory);
    await writeFile(join(paths().runtimeSettingsDirectory, '7.settings'), 'seven');
    // The crash: record removed, old folder renamed aside, new folder not yet in place.
    await rm(packageRecordFile(paths()));
    await rename(paths().packageDirectory, join(pluginsDirectory(), `${VERSION}.0123abcd.replaced`));
    const prepared = await preparePackage(workdir, fromServer(), reporter, fast);
    expect(prepared.reused).to.equal(false);
    expect(await readFile(join(paths().runtimeSettingsDirectory, '7.settings'), 'utf8')).to.equal('seven');
    expect(await pluginsListing()).to.deep.equal([`${VERSION}`, `${VERSION}.package.json`, `${VERSION}.zip`]);
  });

  it('on a SHA-256 mismatch extracts nothing and removes the download', async () => {
    const wrong = 'AB'.repeat(32);
    const error = await failure(fromServer({ sha256: wrong }));
    expect(error.exitCode).to.equal(EXIT_CODES.packageFailed);
    expect(error.message).to.equal(`SHA-256 mismatch for ${server.url('/pkg.zip')}: expected ${wrong.toLowerCase()}, got ${sha256(goodZip)}`);
    expect(await pluginsListing()).to.deep.equal([]);
  });

  it('replaces a recorded package when --sha256 names a different zip', async () => {
    const other = await buildZip(fakeHandlerEntries([{ name: 'extra.txt', content: 'v2' }]));
    await preparePackage(workdir, fromServer(), reporter, fast);
    server.serve('/pkg.zip', other);
    const prepared = await preparePackage(workdir, fromServer({ sha256: sha256(other) }), reporter, fast);
    expect(prepared.reused).to.equal(false);
    expect(await readFile(join(paths().packageDirectory, 'extra.txt'), 'utf8')).to.equal('v2');
    expect(server.requestsFor('/pkg.zip')).to.equal(2);
  });

  it('warns when no checksum is known and prints the one to pin', async () => {
    const prepared = await preparePackage(workdir, fromServer({ sha256: undefined }), reporter, fast);
    const warning = reporter.lines.find((line) => line.level === 'warn');
    expect(warning?.message).to.include('could not be verified against a known checksum');
    expect(warning?.message).to.include(`--sha256 ${prepared.zipSha256}`);
  });

  const hostileArchives: [string, RawZipEntry[], RegExp][] = [
    ['a zip-slip entry', [{ name: '../evil', data: Buffer.from('x') }], /Archive entry '\.\.\/evil' would be written outside the package folder/],
    ['an absolute path', [{ name: 'C:\\Windows\\System32\\evil.dll', data: Buffer.from('x') }], /is an absolute path/],
    ['a symbolic link', [{ name: 'bin/link', data: Buffer.from('../../../../etc/passwd'), unixMode: 0o120777 }], /is a symbolic link/],
  ];
  for (const [label, entries, message] of hostileArchives) {
    it(`rejects an archive with ${label} and leaves the installed package untouched`, async () => {
      await preparePackage(workdir, fromServer(), reporter, fast);
      const before = await readFile(join(paths().packageDirectory, 'bin', 'handler.sh'), 'utf8');
      const hostileZip = await writeZipFile('hostile.zip', buildRawHandlerZip(entries));
      const error = await failure({ handlerName: HANDLER, version: VERSION, zipPath: hostileZip });
      expect(error.exitCode).to.equal(EXIT_CODES.packageFailed);
      expect(error.message).to.match(message);
      expect(await pluginsListing()).to.deep.equal([`${VERSION}`, `${VERSION}.package.json`, `${VERSION}.zip`]);
      expect(await readFile(join(paths().packageDirectory, 'bin', 'handler.sh'), 'utf8')).to.equal(before);
      expect(await readdir(workdir)).to.have.members(['Packages', 'hostile.zip']);
      expect((await preparePackage(workdir, fromServer(), reporter, fast)).reused).to.equal(true);
    });
  }

  it('rejects too many entries and an oversize archive, writing nothing', async () => {
    const limits = { maxEntries: 3, maxTotalBytes: 64 * 1024 };
    const crowded = await writeZipFile('crowded.zip', await buildZip(fakeHandlerEntries([{ name: 'one-too-many.txt', content: 'x' }])));
    expect((await failure({ handlerName: HANDLER, version: VERSION, zipPath: crowded }, { ...fast, extractionLimits: limits })).message).to.match(/has 4 entries; at most 3/);
    const oversize = await writeZipFile('oversize.zip', await buildZip(fakeHandlerEntries([{ name: 'zeros.bin', content: Buffer.alloc(128 * 1024) }])));
    expect((await failure({ handlerName: HANDLER, version: VERSION, zipPath: oversize }, { ...fast, extractionLimits: { ...limits, maxEntries: 10 } })).message).to.match(/expands to more than/);
    expect(await pluginsListing()).to.deep.equal([]);
  });

  it('fails a truncated download cleanly', async () => {
    server.serve('/pkg.zip', goodZip, { kind: 'truncate', sendBytes: 200 });
    const error = await failure(fromServer(), { ...fast, retries: 1 });
    expect(error.exitCode).to.equal(EXIT_CODES.packageFailed);
    expect(error.message).to.match(/^Download of .* failed: .*\(after 2 attempts\)$/);
    expect(await pluginsListing()).to.deep.equal([]);
  });

  it('does not retry a 404', async () => {
    const error = await failure(fromServer({ url: server.url('/nothing-here.zip') }));
    expect(error.message).to.equal(`Download of ${server.url('/nothing-here.zip')} failed: HTTP 404`);
    expect(server.requestsFor('/nothing-here.zip')).to.equal(1);
    expect(await pluginsListing()).to.deep.equal([]);
  });

  it('retries a 500 and succeeds', async () => {
    server.serve('/pkg.zip', goodZip, { kind: 'fail-then-ok', failures: 1, status: 500 });
    const prepared = await preparePackage(workdir, fromServer(), reporter, fast);
    expect(prepared.reused).to.equal(false);
    expect(server.requestsFor('/pkg.zip')).to.equal(2);
  });

  it('times out a download from a server that stalls', async () => {
    server.serve('/pkg.zip', goodZip, { kind: 'stall', sendBytes: 10 });
    const error = await failure(fromServer(), { ...fast, downloadTimeoutMs: 250 });
    expect(error.message).to.match(/timed out after 0\.3 s|timed out after 0\.25 s/);
    expect(await pluginsListing()).to.deep.equal([]);
  });

  it('refuses plain http to a host that is not loopback before any connection', async () => {
    const error = await failure(fromServer({ url: 'http://example.invalid/x.zip' }));
    expect(error.exitCode).to.equal(EXIT_CODES.usage);
    expect(error.message).to.match(/http:\/\/example\.invalid\/x\.zip uses plain http/);
    expect(reporter.lines).to.deep.equal([]);
    expect(await readdir(workdir)).to.deep.equal([]);
  });

  it('checks the URL even when a recorded package would be reused', async () => {
    await preparePackage(workdir, fromServer(), reporter, fast);
    const error = await failure(fromServer({ url: 'ftp://127.0.0.1/pkg.zip' }));
    expect(error.exitCode).to.equal(EXIT_CODES.usage);
  });

  it('stops as interrupted when the signal is already aborted, installing nothing', async () => {
    const localZip = await writeZipFile('local.zip', goodZip);
    const controller = new AbortController();
    controller.abort();
    const error = await failure({ handlerName: HANDLER, version: VERSION, zipPath: localZip }, { ...fast, signal: controller.signal });
    expect(error.exitCode).to.equal(EXIT_CODES.interrupted);
    expect(await pluginsListing()).to.deep.equal([]);
  });

  it('stops as interrupted when aborted during the download, leaving no partial file', async () => {
    server.serve('/pkg.zip', goodZip, { kind: 'stall', sendBytes: 10 });
    const controller = new AbortController();
    const pending = failure(fromServer(), { ...fast, signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    expect((await pending).exitCode).to.equal(EXIT_CODES.interrupted);
    expect(await pluginsListing()).to.deep.equal([]);
  });

  it('uses a local zip, keeps a copy, reuses it and notices when a different zip is given', async () => {
    const localZip = await writeZipFile('local.zip', goodZip);
    const first = await preparePackage(workdir, { handlerName: HANDLER, version: VERSION, zipPath: localZip }, reporter, fast);
    expect(first.reused).to.equal(false);
    expect((await readFile(paths().packageZip)).equals(goodZip)).to.equal(true);
    expect((await readFile(localZip)).equals(goodZip)).to.equal(true);
    expect((await preparePackage(workdir, { handlerName: HANDLER, version: VERSION, zipPath: localZip }, reporter, fast)).reused).to.equal(true);

    const changed = await buildZip(fakeHandlerEntries([{ name: 'new.txt', content: 'new' }]));
    await writeFile(localZip, changed);
    const third = await preparePackage(workdir, { handlerName: HANDLER, version: VERSION, zipPath: localZip }, reporter, fast);
    expect(third.reused).to.equal(false);
    expect(third.zipSha256).to.equal(sha256(changed));
    expect(await readFile(join(paths().packageDirectory, 'new.txt'), 'utf8')).to.equal('new');
    expect(server.requests).to.deep.equal([]);
  });

  it('reports a missing local zip', async () => {
    const error = await failure({ handlerName: HANDLER, version: VERSION, zipPath: join(workdir, 'nope.zip') });
    expect(error.exitCode).to.equal(EXIT_CODES.packageFailed);
    expect(error.message).to.match(/nope\.zip does not exist or is not a file/);
  });

  const badManifests: [string, ZipEntries, RegExp][] = [
    ['no manifest', [{ name: 'bin/handler.sh', content: FAKE_HANDLER_SCRIPT }], /no HandlerManifest\.json at its top level/],
    ['a manifest that is not JSON', [{ name: 'HandlerManifest.json', content: '<xml/>' }], /not valid JSON/],
    ['a manifest without enableCommand', [{ name: 'HandlerManifest.json', content: '[{"handlerManifest":{"installCommand":"i"}}]' }], /handlerManifest\.enableCommand/],
    ['a manifest with a numeric installCommand', [{ name: 'HandlerManifest.json', content: '[{"handlerManifest":{"installCommand":1,"enableCommand":"e"}}]' }], /installCommand must be a string/],
    ['a manifest only in a subfolder', [{ name: 'sub/HandlerManifest.json', content: '[]' }], /no HandlerManifest\.json at its top level/],
  ];
  for (const [label, entries, message] of badManifests) {
    it(`fails clearly for ${label} and installs nothing`, async () => {
      const zipPath = await writeZipFile('bad.zip', await buildZip(entries));
      const error = await failure({ handlerName: HANDLER, version: VERSION, zipPath });
      expect(error.exitCode).to.equal(EXIT_CODES.packageFailed);
      expect(error.message).to.match(message);
      expect(await pluginsListing()).to.deep.equal([]);
    });
  }

  it('refuses malformed --sha256, both or neither source, and unsafe names, before any request', async () => {
    const usage = [
      fromServer({ sha256: 'abc' }),
      fromServer({ zipPath: join(workdir, 'x.zip') }),
      { handlerName: HANDLER, version: VERSION },
      fromServer({ version: '../../escape' }),
      fromServer({ handlerName: 'a/b' }),
      fromServer({ version: '' }),
    ];
    for (const source of usage) {
      expect((await failure(source)).exitCode).to.equal(EXIT_CODES.usage);
    }
    expect(server.requests).to.deep.equal([]);
    expect(await readdir(workdir)).to.deep.equal([]);
  });

  it('never shows a SAS token from the URL', async () => {
    const secret = 'sig=AnotherSecretSasSignature';
    const error = await failure(fromServer({ url: `${server.url('/pkg.zip')}?sv=1&${secret}`, sha256: 'cd'.repeat(32) }));
    expect(error.message).to.match(/SHA-256 mismatch/);
    expect(error.message.includes(secret)).to.equal(false);
    expect(reporter.text().includes(secret)).to.equal(false);
    expect(server.requests[0]?.target.includes(secret)).to.equal(true);
  });
});

type ZipEntries = Parameters<typeof buildZip>[0];
