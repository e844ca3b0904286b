// The proxy pid file: merged updates, and gone exactly when nothing is left to clean up.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  clearAddressFromPidFile,
  clearProxyFromPidFile,
  readProxyPidFile,
  recordAddressInPidFile,
  updateProxyPidFile,
} from '../../orchestrator/proxy-pid-file.js';

describe('proxy pid file', () => {
  let directory: string;
  let file: string;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'himdsproxy-pidfile-'));
    file = join(directory, 'Logs', 'himdsproxy', 'proxy.pid.json');
  });

  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('creates the folder and merges updates into one record', async () => {
    await updateProxyPidFile(file, { pid: 1234, listen: '169.254.169.254:80', startedAt: '2026-12-03T15:45:00.000Z' });
    await updateProxyPidFile(file, { url: 'http://169.254.169.254:80' });
    await recordAddressInPidFile(file, '169.254.169.254');
    expect(await readProxyPidFile(file)).to.deep.equal({
      kind: 'record',
      record: { pid: 1234, listen: '169.254.169.254:80', startedAt: '2026-12-03T15:45:00.000Z', url: 'http://169.254.169.254:80', address: '169.254.169.254', addressAdded: true },
    });
    expect(JSON.parse(await readFile(file, 'utf8')).pid).to.equal(1234);
  });

  it('keeps the address after the proxy is cleared, and is deleted once the address is cleared too', async () => {
    await updateProxyPidFile(file, { pid: 1234, listen: '169.254.169.254:80' });
    await recordAddressInPidFile(file, '169.254.169.254');
    await clearProxyFromPidFile(file);
    expect(await readProxyPidFile(file)).to.deep.equal({ kind: 'record', record: { address: '169.254.169.254', addressAdded: true } });
    await clearAddressFromPidFile(file);
    expect(existsSync(file)).to.equal(false);
    expect(await readdir(dirname(file))).to.deep.equal([]);
  });

  it('is deleted when the proxy is cleared and no address was recorded', async () => {
    await updateProxyPidFile(file, { pid: 1234 });
    await clearProxyFromPidFile(file);
    expect(await readProxyPidFile(file)).to.deep.equal({ kind: 'missing' });
  });

  it('clearing a missing file is harmless', async () => {
    await clearProxyFromPidFile(file);
    await clearAddressFromPidFile(file);
    expect(existsSync(file)).to.equal(false);
  });

  it('replaces an unreadable file instead of merging into it', async () => {
    await updateProxyPidFile(file, { pid: 1 });
    await writeFile(file, '{"pid": "garbage"');
    expect((await readProxyPidFile(file)).kind).to.equal('unreadable');
    await updateProxyPidFile(file, { pid: 77 });
    expect(await readProxyPidFile(file)).to.deep.equal({ kind: 'record', record: { pid: 77 } });
  });
});
