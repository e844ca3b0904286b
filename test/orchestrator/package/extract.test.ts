// Safe extraction with real zips: good packages land intact, hostile ones write nothing.
import { expect } from 'chai';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT_CODES, HimdsproxyError } from '../../../orchestrator/errors.js';
import { extractZipSafely } from '../../../orchestrator/steps/package/extract.js';
import { FAKE_HANDLER_SCRIPT, buildRawHandlerZip, buildRawZip, buildZip, fakeHandlerEntries, type RawZipEntry } from '../../support/zip-fixtures.js';

describe('package extraction', () => {
  let directory: string;
  let destination: string;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'himdsproxy-extract-'));
    destination = join(directory, 'out');
  });
  afterEach(async () => { await rm(directory, { recursive: true, force: true }); });

  async function zipFile(content: Buffer): Promise<string> {
    const path = join(directory, 'package.zip');
    await writeFile(path, content);
    return path;
  }

  async function expectRefusal(content: Buffer, message: RegExp, limits?: { maxEntries: number; maxTotalBytes: number }): Promise<void> {
    const error = await extractZipSafely(await zipFile(content), destination, limits).catch((caught: unknown) => caught);
    expect(error).to.be.instanceOf(HimdsproxyError);
    expect((error as HimdsproxyError).exitCode).to.equal(EXIT_CODES.packageFailed);
    expect((error as HimdsproxyError).message).to.match(message);
    // Nothing written: not the destination, and nothing beside it either.
    expect(await readdir(directory)).to.deep.equal(['package.zip']);
  }

  it('extracts a package made by a zip tool and returns its files', async () => {
    const files = await extractZipSafely(await zipFile(await buildZip(fakeHandlerEntries())), destination);
    expect(files).to.have.members(['HandlerManifest.json', 'bin/handler.sh', 'bin/data/readme.txt']);
    expect(await readFile(join(destination, 'bin', 'handler.sh'), 'utf8')).to.equal(FAKE_HANDLER_SCRIPT);
  });

  it('keeps the execute bit of scripts and leaves other files non-executable', async function () {
    if (process.platform === 'win32') this.skip();
    await extractZipSafely(await zipFile(await buildZip(fakeHandlerEntries())), destination);
    expect((await stat(join(destination, 'bin', 'handler.sh'))).mode & 0o111).to.not.equal(0);
    expect((await stat(join(destination, 'bin', 'data', 'readme.txt'))).mode & 0o111).to.equal(0);
    expect((await stat(join(destination, 'HandlerManifest.json'))).mode & 0o111).to.equal(0);
  });

  it('extracts a hand-made archive with folder entries and Windows-style names', async () => {
    const files = await extractZipSafely(
      await zipFile(buildRawZip([
        { name: 'bin/', unixMode: 0o040755 },
        { name: 'bin\\tool.dll', data: Buffer.from('dll') },
        { name: 'empty/', unixMode: 0 },
      ])),
      destination,
    );
    expect(files).to.deep.equal(['bin/tool.dll']);
    expect(await readFile(join(destination, 'bin', 'tool.dll'), 'utf8')).to.equal('dll');
    expect((await stat(join(destination, 'empty'))).isDirectory()).to.equal(true);
  });

  it('refuses a destination that already exists', async () => {
    const path = await zipFile(await buildZip(fakeHandlerEntries()));
    await writeFile(destination, 'in the way');
    const error = await extractZipSafely(path, destination).catch((caught: unknown) => caught);
    expect((error as NodeJS.ErrnoException).code).to.equal('EEXIST');
    expect(await readFile(destination, 'utf8')).to.equal('in the way');
  });

  const hostile: [string, RawZipEntry[], RegExp][] = [
    ['a zip-slip entry', [{ name: '../evil', data: Buffer.from('x') }], /Archive entry '\.\.\/evil' would be written outside the package folder/],
    ['a deep zip-slip entry', [{ name: 'bin/../../../evil', data: Buffer.from('x') }], /outside the package folder/],
    ['a backslash traversal', [{ name: 'bin\\..\\..\\evil', data: Buffer.from('x') }], /outside the package folder/],
    ['an absolute unix path', [{ name: '/tmp/evil', data: Buffer.from('x') }], /is an absolute path/],
    ['a drive-letter path', [{ name: 'C:\\Windows\\evil.dll', data: Buffer.from('x') }], /is an absolute path/],
    ['a UNC path', [{ name: '\\\\server\\share\\evil', data: Buffer.from('x') }], /is an absolute path/],
    ['a symbolic link', [{ name: 'link', data: Buffer.from('/etc/passwd'), unixMode: 0o120777 }], /'link' is a symbolic link/],
    ['a FIFO', [{ name: 'pipe', unixMode: 0o010644 }], /'pipe' is a special file/],
    ['an alternate data stream', [{ name: 'HandlerManifest.json:evil', data: Buffer.from('x') }], /character Windows does not allow/],
    ['a device name', [{ name: 'bin/NUL.txt', data: Buffer.from('x') }], /Windows device name/],
    ['a control character', [{ name: 'a\u0007b', data: Buffer.from('x') }], /'a\\u0007b' contains a character/],
    ['a duplicate name', [{ name: 'bin/handler.sh', data: Buffer.from('other') }], /'bin\/handler\.sh' appears twice/],
    ['a duplicate differing only in case', [{ name: 'BIN/Handler.SH', data: Buffer.from('other') }], /appears twice/],
    ['a file over a folder name', [{ name: 'bin', data: Buffer.from('x') }], /appears twice/],
    ['an entry inside a file', [{ name: 'HandlerManifest.json/inner', data: Buffer.from('x') }], /inside 'handlermanifest\.json', which is a file/],
    ['a deflated entry larger than declared', [{ name: 'bomb.bin', data: Buffer.alloc(100_000), method: 'deflate', declaredSize: 10 }], /'bomb\.bin' .* is corrupt: too many bytes/],
    ['a stored entry larger than declared', [{ name: 'big.bin', data: Buffer.alloc(1000), declaredSize: 10 }], /size mismatch/],
    ['an entry whose content does not match its CRC-32', [{ name: 'tampered.txt', data: Buffer.from('tampered'), declaredCrc32: 12345 }], /'tampered\.txt' .* is corrupt: CRC-32 mismatch/],
  ];
  for (const [label, entries, message] of hostile) {
    it(`refuses ${label} and writes nothing`, async () => {
      await expectRefusal(buildRawHandlerZip(entries), message);
    });
  }

  it('refuses an entry behind a zip-slip entry before writing the harmless ones', async () => {
    await expectRefusal(buildRawZip([{ name: 'ok.txt', data: Buffer.from('ok') }, { name: '../evil', data: Buffer.from('x') }]), /outside the package folder/);
  });

  it('refuses too many entries', async () => {
    const entries = Array.from({ length: 11 }, (_, index) => ({ name: `f${index}.txt`, content: 'x' }));
    await expectRefusal(await buildZip(entries), /has 11 entries; at most 10 are allowed/, { maxEntries: 10, maxTotalBytes: 1_000_000 });
  });

  it('refuses an archive that expands beyond the size limit', async () => {
    await expectRefusal(await buildZip([{ name: 'zeros.bin', content: Buffer.alloc(2 * 1024 * 1024) }]), /expands to more than 1\.0 MiB/, { maxEntries: 10, maxTotalBytes: 1024 * 1024 });
  });

  it('refuses a file that is not a zip, and a truncated zip', async () => {
    await expectRefusal(Buffer.from('<html>Access denied</html>'), /not a readable zip archive/);
    const good = await buildZip(fakeHandlerEntries());
    await expectRefusal(good.subarray(0, Math.floor(good.length / 2)), /not a readable zip archive/);
  });

  it('shows archive names with control characters escaped, not raw', async () => {
    const error = await extractZipSafely(await zipFile(buildRawZip([{ name: '\u001b[31m../x', data: Buffer.from('x') }])), destination).catch((caught: unknown) => caught);
    expect((error as Error).message.includes('\u001b')).to.equal(false);
  });
});
