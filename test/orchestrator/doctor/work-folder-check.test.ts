// Doctor check 9 against real folders: writable, missing (join creates it), a file in the way, too little room.
import { expect } from 'chai';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MINIMUM_FREE_BYTES, workFolderCheck } from '../../../orchestrator/doctor/checks/work-folder.js';
import { fakeContext } from './fake-context.js';

describe('doctor check 9: work folder', () => {
  let root: string;
  beforeEach(async () => { root = await mkdtemp(join(tmpdir(), 'himdsproxy-doctor-workdir-')); });
  afterEach(async () => { await rm(root, { recursive: true, force: true }); });

  it('passes for a writable folder with room, and leaves nothing behind', async () => {
    const asked: string[] = [];
    const result = await workFolderCheck.run(fakeContext({ workdir: root, freeBytes: async (path) => { asked.push(path); return 5 * 1024 ** 3; } }));
    expect(result.outcome).to.equal('pass');
    expect(result.detail).to.contain('5120 MiB free');
    expect(asked).to.deep.equal([root]);
    expect(await readdir(root)).to.deep.equal([]);
  });

  it('checks the nearest existing parent of a folder join would create, without creating it', async () => {
    const workdir = join(root, 'not', 'yet');
    const result = await workFolderCheck.run(fakeContext({ workdir }));
    expect(result.outcome).to.equal('pass');
    expect(result.detail).to.contain(`${root} (join creates ${workdir})`);
    expect(await readdir(root)).to.deep.equal([]);
  });

  it('fails when a file stands where the folder should be', async () => {
    const file = join(root, 'a-file');
    await writeFile(file, 'x');
    for (const workdir of [file, join(file, 'below')]) {
      const result = await workFolderCheck.run(fakeContext({ workdir }));
      expect(result.outcome, workdir).to.equal('fail');
      expect(result.detail).to.contain(`${file} is a file`);
      expect(result.fix).to.contain('--workdir');
    }
  });

  it('fails when the folder is not writable', async function () {
    // /proc/self accepts no new files even for root; elsewhere there is no such folder to test with.
    if (process.platform !== 'linux') this.skip();
    const result = await workFolderCheck.run(fakeContext({ workdir: '/proc/self' }));
    expect(result.outcome).to.equal('fail');
    expect(result.detail).to.match(/not writable \((EACCES|ENOENT|EPERM)\)/);
  });

  it('fails with too little room, saying how much is needed', async () => {
    const result = await workFolderCheck.run(fakeContext({ workdir: root, freeBytes: async () => MINIMUM_FREE_BYTES - 1 }));
    expect(result.outcome).to.equal('fail');
    expect(result.detail).to.contain('only 99 MiB free; join needs 100 MiB');
    expect(await readdir(root)).to.deep.equal([]);
  });
});
