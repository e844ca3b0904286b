// SHA-256 input parsing and streaming hashing of package files.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT_CODES, HimdsproxyError } from '../../../orchestrator/errors.js';
import { parseExpectedSha256, sameSha256, sha256OfFile } from '../../../orchestrator/steps/package/verify.js';

describe('package verify', () => {
  const digest = 'ab'.repeat(32);

  it('normalises a valid SHA-256 to lower case and trims blanks', () => {
    expect(parseExpectedSha256(digest)).to.equal(digest);
    expect(parseExpectedSha256(` ${digest.toUpperCase()}\n`)).to.equal(digest);
  });

  const malformed = ['', '   ', 'ab'.repeat(31), 'ab'.repeat(33), `${'ab'.repeat(31)}zz`, `sha256:${digest}`, `${digest.slice(0, 32)} ${digest.slice(32)}`, 'x'.repeat(500)];
  for (const text of malformed) {
    it(`refuses ${JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text)} as a usage error`, () => {
      try {
        parseExpectedSha256(text);
        expect.fail('expected a refusal');
      } catch (error) {
        expect(error).to.be.instanceOf(HimdsproxyError);
        expect((error as HimdsproxyError).exitCode).to.equal(EXIT_CODES.usage);
        expect((error as HimdsproxyError).message).to.match(/64 hexadecimal characters/);
        expect((error as HimdsproxyError).message.length).to.be.below(250);
      }
    });
  }

  it('compares digests case-insensitively', () => {
    expect(sameSha256(digest, digest.toUpperCase())).to.equal(true);
    expect(sameSha256(digest, 'cd'.repeat(32))).to.equal(false);
  });

  describe('sha256OfFile', () => {
    let directory: string;
    beforeEach(async () => { directory = await mkdtemp(join(tmpdir(), 'himdsproxy-verify-')); });
    afterEach(async () => { await rm(directory, { recursive: true, force: true }); });

    it('hashes an empty file and a multi-chunk file like a one-shot hash', async () => {
      const empty = join(directory, 'empty');
      const large = join(directory, 'large');
      const content = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
      await writeFile(empty, '');
      await writeFile(large, content);
      expect(await sha256OfFile(empty)).to.equal(createHash('sha256').update('').digest('hex'));
      expect(await sha256OfFile(large)).to.equal(createHash('sha256').update(content).digest('hex'));
    });

    it('rejects for a missing file', async () => {
      let failed = false;
      await sha256OfFile(join(directory, 'missing')).catch(() => { failed = true; });
      expect(failed).to.equal(true);
    });
  });
});
