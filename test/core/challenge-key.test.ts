// Reading challenge key files from a real directory: what is read, and every kind of file that is refused.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChallengeError, MAX_KEY_FILE_BYTES, readChallengeKey, type ChallengeFailureReason } from '../../core/challenge.js';

describe('core challenge key reading (real files)', () => {
  let directory: string;
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'himdsproxy-keys-'));
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  async function expectRefusal(path: string, reason: ChallengeFailureReason, secret?: string): Promise<void> {
    let caught: unknown;
    try {
      await readChallengeKey(path);
    } catch (error) {
      caught = error;
    }
    expect(caught).to.be.instanceOf(ChallengeError);
    expect((caught as ChallengeError).reason).to.equal(reason);
    if (secret !== undefined) expect((caught as Error).message.includes(secret)).to.equal(false);
  }

  it('reads the exact content of a regular key file', async () => {
    const path = join(directory, 'a.key');
    await writeFile(path, 'c2VjcmV0LWtleS1jb250ZW50', { mode: 0o600 });
    expect(await readChallengeKey(path)).to.equal('c2VjcmV0LWtleS1jb250ZW50');
  });

  it('reads a file of exactly 4096 bytes', async () => {
    const path = join(directory, 'max.key');
    await writeFile(path, 'k'.repeat(MAX_KEY_FILE_BYTES));
    expect((await readChallengeKey(path)).length).to.equal(MAX_KEY_FILE_BYTES);
  });

  it('refuses a file over 4096 bytes', async () => {
    const path = join(directory, 'big.key');
    await writeFile(path, 'k'.repeat(MAX_KEY_FILE_BYTES + 1));
    await expectRefusal(path, 'key-too-large');
  });

  it('refuses a symbolic link, even to a good key', async () => {
    const target = join(directory, 'real.key');
    await writeFile(target, 'secret-behind-link');
    const link = join(directory, 'link.key');
    await symlink(target, link);
    await expectRefusal(link, 'not-regular-file', 'secret-behind-link');
  });

  it('refuses a directory', async () => {
    const path = join(directory, 'dir.key');
    await mkdir(path);
    await expectRefusal(path, 'not-regular-file');
  });

  it('refuses a FIFO without blocking on it', async function () {
    if (process.platform === 'win32') this.skip();
    const path = join(directory, 'pipe.key');
    execFileSync('mkfifo', [path]);
    await expectRefusal(path, 'not-regular-file');
  });

  it('refuses a missing file as unreadable', async () => {
    await expectRefusal(join(directory, 'gone.key'), 'key-unreadable');
  });

  for (const [name, content] of [
    ['a trailing newline', 'secret-with-newline\n'],
    ['an inner space', 'secret with space'],
    ['a CR LF header injection', 'secret\r\nX-Injected: 1'],
    ['an empty file', ''],
  ] as const) {
    it(`refuses a key with ${name} without echoing it`, async () => {
      const path = join(directory, 'odd.key');
      await writeFile(path, content);
      await expectRefusal(path, 'key-malformed', content || undefined);
    });
  }
});
