// Tests reading and following Status/<n>.status: tolerant parsing, polling real files, timeout and abort.
import { expect } from 'chai';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXIT_CODES, HimdsproxyError } from '../../orchestrator/errors.js';
import { MemoryReporter } from '../../orchestrator/reporter.js';
import { followStatus, parseStatusFile, type HandlerStatus } from '../../orchestrator/steps/status.js';
import { rejectionOf } from '../support/rejection.js';

/** A status file as a Windows handler writes it. */
function statusText(status: string, message = 'message', extra: Record<string, unknown> = {}): string {
  return JSON.stringify([
    {
      version: '1.0',
      timestampUTC: '/Date(1702208649716)/',
      status: {
        name: 'Microsoft.Azure.ActiveDirectory.AADLoginForWindows',
        operation: 'AADJoin',
        status,
        code: 0,
        formattedMessage: { lang: 'en-US', message },
        substatus: null,
        ...extra,
      },
    },
  ]).replace('"/Date(1702208649716)/"', '"\\/Date(1702208649716)\\/"');
}

describe('parseStatusFile', () => {
  it('reads a Windows handler status with a .NET date', () => {
    const text = statusText('success', 'Successfully joined machine to AAD.');
    expect(text).to.include('"\\/Date(1702208649716)\\/"');
    expect(parseStatusFile(text)).to.deep.equal({
      status: 'success',
      operation: 'AADJoin',
      code: 0,
      message: 'Successfully joined machine to AAD.',
      timestamp: new Date(1702208649716),
      name: 'Microsoft.Azure.ActiveDirectory.AADLoginForWindows',
    });
  });

  it('reads ISO dates', () => {
    const text = statusText('transitioning').replace('"\\/Date(1702208649716)\\/"', '"2023-12-10T11:44:09.716Z"');
    expect(parseStatusFile(text)?.timestamp?.toISOString()).to.equal('2023-12-10T11:44:09.716Z');
  });

  it('reads .NET dates with a time zone offset as the same instant', () => {
    const text = statusText('transitioning').replace('Date(1702208649716)', 'Date(1702208649716+0100)');
    expect(parseStatusFile(text)?.timestamp?.getTime()).to.equal(1702208649716);
  });

  for (const bad of ['yesterday', '/Date(abc)/', '', '9999-99-99T99:99:99Z']) {
    it(`leaves out an unreadable timestamp ${JSON.stringify(bad)} but keeps the status`, () => {
      const text = statusText('success').replace('"\\/Date(1702208649716)\\/"', JSON.stringify(bad));
      const parsed = parseStatusFile(text);
      expect(parsed?.status).to.equal('success');
      expect(parsed).not.to.have.property('timestamp');
    });
  }

  for (const [written, expected] of [
    ['success', 'success'], ['Success', 'success'], ['SUCCESS', 'success'], [' error ', 'error'],
    ['Error', 'error'], ['Transitioning', 'transitioning'], ['warning', 'warning'], ['WARNING', 'warning'],
  ] as const) {
    it(`compares the status ${JSON.stringify(written)} case-insensitively`, () => {
      expect(parseStatusFile(statusText(written))?.status).to.equal(expected);
    });
  }

  it('tolerates a UTF-8 BOM and surrounding whitespace', () => {
    expect(parseStatusFile(`\uFEFF\r\n  ${statusText('success')}\r\n`)?.status).to.equal('success');
  });

  it('tolerates a BOM read as bytes and decoded as UTF-8', () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(statusText('error'))]);
    expect(parseStatusFile(bytes.toString('utf8'))?.status).to.equal('error');
  });

  it('accepts capitalised keys and a code written as text', () => {
    const text = JSON.stringify([{ TimestampUTC: '2023-12-10T11:44:09Z', Status: { Status: 'Error', Code: '-2145648574', FormattedMessage: { Message: 'no tenant' } } }]);
    expect(parseStatusFile(text)).to.deep.equal({ status: 'error', code: -2145648574, message: 'no tenant', timestamp: new Date('2023-12-10T11:44:09Z') });
  });

  it('accepts a bare object instead of a one-element array', () => {
    const [entry] = JSON.parse(statusText('success')) as unknown[];
    expect(parseStatusFile(JSON.stringify(entry))?.status).to.equal('success');
  });

  it('ignores codes that are not integers', () => {
    for (const code of ['abc', 1.5, null, {}, '']) {
      expect(parseStatusFile(statusText('error', 'm', { code }))).not.to.have.property('code');
    }
  });

  const notYet: [string, string][] = [
    ['empty', ''],
    ['whitespace', ' \n\t'],
    ['BOM only', '\uFEFF'],
    ['garbage', 'not json at all {{{'],
    ['half written', statusText('success').slice(0, 40)],
    ['all but the last bracket', statusText('success').slice(0, -1)],
    ['NUL padding as left by a crash', '\0\0\0\0'],
    ['empty array', '[]'],
    ['null', 'null'],
    ['a number', '42'],
    ['a string', '"success"'],
    ['no status object', '[{"version":"1.0"}]'],
    ['status is not an object', '[{"status":"success"}]'],
    ['status value missing', '[{"status":{"code":0}}]'],
    ['status value not a string', '[{"status":{"status":1}}]'],
    ['unknown status value', statusText('Ready')],
    ['array of arrays', `[${statusText('success')}]`],
  ];
  for (const [label, text] of notYet) {
    it(`reads ${label} as "not yet"`, () => {
      expect(parseStatusFile(text)).to.equal(undefined);
    });
  }
});

describe('followStatus (real files)', () => {
  let directory: string;
  let statusFile: string;
  let reporter: MemoryReporter;
  let seen: HandlerStatus[];
  const onStatus = (status: HandlerStatus): void => { seen.push(status); };

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'himdsproxy-status-'));
    statusFile = join(directory, '3.status');
    reporter = new MemoryReporter();
    seen = [];
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  /** Replaces the status file the way Windows handlers do: write elsewhere, rename into place. */
  async function replaceStatus(text: string): Promise<void> {
    const temporary = join(directory, `tmp-${Math.random().toString(16).slice(2)}`);
    await writeFile(temporary, text);
    await rename(temporary, statusFile);
  }

  it('returns a success that is already there', async () => {
    await replaceStatus(statusText('success', 'Successfully joined machine to AAD.'));
    const status = await followStatus(statusFile, { timeoutMs: 5000, pollIntervalMs: 20, onStatus, reporter });
    expect(status.status).to.equal('success');
    expect(seen.map((s) => s.message)).to.deep.equal(['Successfully joined machine to AAD.']);
  });

  it('waits for a missing file to appear, reports each new status once, and ends on success', async () => {
    const following = followStatus(statusFile, { timeoutMs: 10_000, pollIntervalMs: 20, onStatus, reporter });
    await sleep(100);
    await replaceStatus(statusText('transitioning', 'Joining'));
    await sleep(100);
    await replaceStatus('garbage');
    await sleep(100);
    await replaceStatus(statusText('transitioning', 'Joining'));
    await sleep(100);
    await replaceStatus(statusText('transitioning', 'Still joining'));
    await sleep(100);
    await replaceStatus(statusText('warning', 'Slow network'));
    await sleep(100);
    await replaceStatus(statusText('Success', 'Successfully joined machine to AAD.'));
    const status = await following;
    expect(status.status).to.equal('success');
    expect(seen.map((s) => `${s.status}: ${s.message}`)).to.deep.equal([
      'transitioning: Joining',
      'transitioning: Still joining',
      'warning: Slow network',
      'success: Successfully joined machine to AAD.',
    ]);
    expect(reporter.text()).to.include('not there yet');
  });

  it('ends on error and returns the code and message', async () => {
    await replaceStatus(statusText('error', 'Failed to get tenant', { code: -2145648574 }));
    const status = await followStatus(statusFile, { timeoutMs: 5000, pollIntervalMs: 20, onStatus, reporter });
    expect(status).to.include({ status: 'error', code: -2145648574, message: 'Failed to get tenant' });
  });

  it('reads through garbage, a half-written file and a BOM, written in place', async () => {
    const following = followStatus(statusFile, { timeoutMs: 10_000, pollIntervalMs: 20, onStatus, reporter });
    await writeFile(statusFile, '{{{ garbage');
    await sleep(80);
    await writeFile(statusFile, statusText('success').slice(0, 30));
    await sleep(80);
    await writeFile(statusFile, `\uFEFF${statusText('success', 'done')}`);
    expect((await following).message).to.equal('done');
    expect(seen).to.have.length(1);
  });

  it('keeps reading while the file is replaced over and over mid-read', async () => {
    const following = followStatus(statusFile, { timeoutMs: 10_000, pollIntervalMs: 1, onStatus, reporter });
    const transitioning = statusText('transitioning', 'x'.repeat(200_000));
    for (let round = 0; round < 30; round++) {
      await replaceStatus(transitioning);
      await rm(statusFile, { force: true });
      await writeFile(statusFile, transitioning.slice(0, 1000 + round * 1000));
    }
    await replaceStatus(statusText('success', 'done'));
    expect((await following).status).to.equal('success');
    expect(seen.at(-1)?.message).to.equal('done');
  });

  it('does not end on transitioning or warning', async () => {
    await replaceStatus(statusText('warning', 'not yet'));
    const error = await rejectionOf(followStatus(statusFile, { timeoutMs: 300, pollIntervalMs: 20, onStatus, reporter }), HimdsproxyError);
    expect(error.exitCode).to.equal(EXIT_CODES.timedOut);
    expect(seen.map((s) => s.status)).to.deep.equal(['warning']);
  });

  it('times out naming the last status seen', async () => {
    await replaceStatus(statusText('transitioning', 'Joining machine'));
    const error = await rejectionOf(followStatus(statusFile, { timeoutMs: 300, pollIntervalMs: 20, onStatus, reporter }), HimdsproxyError);
    expect(error.exitCode).to.equal(EXIT_CODES.timedOut);
    expect(error.message).to.include("the last status was 'transitioning': Joining machine");
    expect(error.message).to.include('0.3 s');
  });

  it('times out naming the file when no status ever appeared', async () => {
    await writeFile(statusFile, 'garbage only');
    const error = await rejectionOf(followStatus(statusFile, { timeoutMs: 200, pollIntervalMs: 20, onStatus, reporter }), HimdsproxyError);
    expect(error.exitCode).to.equal(EXIT_CODES.timedOut);
    expect(error.message).to.include(`no status appeared in ${statusFile}`);
    expect(seen).to.deep.equal([]);
  });

  it('stops at once when the signal aborts (interrupted)', async () => {
    const controller = new AbortController();
    const following = rejectionOf(followStatus(statusFile, { timeoutMs: 60_000, pollIntervalMs: 10_000, signal: controller.signal, onStatus, reporter }), HimdsproxyError);
    await sleep(50);
    controller.abort();
    const error = await following;
    expect(error.exitCode).to.equal(EXIT_CODES.interrupted);
  });

  it('rethrows a HimdsproxyError given as the abort reason', async () => {
    const controller = new AbortController();
    const reason = new HimdsproxyError('The proxy stopped during the join', EXIT_CODES.proxyFailed);
    controller.abort(reason);
    expect(await rejectionOf(followStatus(statusFile, { timeoutMs: 60_000, signal: controller.signal, onStatus, reporter }), HimdsproxyError)).to.equal(reason);
  });

  it('treats an unreadable path (a directory) as "not yet" and still times out cleanly', async () => {
    const error = await rejectionOf(followStatus(directory, { timeoutMs: 150, pollIntervalMs: 20, onStatus, reporter }), HimdsproxyError);
    expect(error.exitCode).to.equal(EXIT_CODES.timedOut);
    expect(reporter.text()).to.include('EISDIR');
  });
});

