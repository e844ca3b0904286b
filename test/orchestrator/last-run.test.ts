// last-run.json: written atomically, read back exactly, and malformed files reported, not trusted.
import { expect } from 'chai';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT_CODES, HimdsproxyError } from '../../orchestrator/errors.js';
import { readLastRun, writeLastRun, type LastRunSummary } from '../../orchestrator/last-run.js';

function summary(overrides: Partial<LastRunSummary> = {}): LastRunSummary {
  return {
    runId: '20261203T154500Z-1a2b',
    outcome: 'joined',
    exitCode: 0,
    message: 'Successfully joined machine to AAD.',
    handlerStatus: 'AADJoin success: Successfully joined machine to AAD.',
    startedAt: '2026-12-03T15:45:00.000Z',
    finishedAt: '2026-12-03T15:46:02.500Z',
    durationsMs: { 'handler package': 1200, 'start the proxy': 180 },
    logDirectory: '/work/Logs/himdsproxy/20261203T154500Z-1a2b',
    logs: { join: '/work/Logs/himdsproxy/r/join.log', proxy: '/work/Logs/himdsproxy/r/proxy.log', handler: '/work/Logs/himdsproxy/r/handler.log' },
    ...overrides,
  };
}

describe('last run summary', () => {
  let directory: string;
  let file: string;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'himdsproxy-last-run-'));
    file = join(directory, 'Logs', 'himdsproxy', 'last-run.json');
  });

  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('writes pretty JSON, creating the folder, and reads it back unchanged', async () => {
    await writeLastRun(file, summary());
    expect(await readLastRun(file)).to.deep.equal(summary());
    const text = await readFile(file, 'utf8');
    expect(text.endsWith('}\n')).to.equal(true);
    expect(text.charCodeAt(0)).to.equal('{'.charCodeAt(0));
  });

  it('replaces the previous summary and leaves no temporary files behind', async () => {
    await writeLastRun(file, summary());
    const second = summary({ runId: 'second', outcome: 'timed-out', exitCode: EXIT_CODES.timedOut, message: 'The handler did not finish within 10 min' });
    delete second.handlerStatus;
    await writeLastRun(file, second);
    expect(await readLastRun(file)).to.deep.equal(second);
    expect(await readdir(join(directory, 'Logs', 'himdsproxy'))).to.deep.equal(['last-run.json']);
  });

  it('answers undefined when no run has finished yet', async () => {
    expect(await readLastRun(file)).to.equal(undefined);
  });

  it('accepts a file saved with a BOM by a Windows editor', async () => {
    await mkdir(join(directory, 'Logs', 'himdsproxy'), { recursive: true });
    await writeFile(file, `\uFEFF${JSON.stringify(summary())}`);
    expect(await readLastRun(file)).to.deep.equal(summary());
  });

  const malformed: [string, string, RegExp][] = [
    ['empty', '', /not JSON/],
    ['truncated', JSON.stringify(summary()).slice(0, 40), /not JSON/],
    ['an array', '[]', /JSON object/],
    ['null', 'null', /JSON object/],
    ['unknown outcome', JSON.stringify(summary({ outcome: 'maybe' as LastRunSummary['outcome'] })), /'outcome'/],
    ['exit code as text', JSON.stringify({ ...summary(), exitCode: '0' }), /'exitCode'/],
    ['missing runId', JSON.stringify({ ...summary(), runId: undefined }), /'runId'/],
    ['durations not numbers', JSON.stringify({ ...summary(), durationsMs: { a: 'slow' } }), /'durationsMs'/],
    ['logs missing a path', JSON.stringify({ ...summary(), logs: { join: 'a', proxy: 'b' } }), /'logs.handler'/],
    ['handlerStatus as object', JSON.stringify({ ...summary(), handlerStatus: { status: 'success' } }), /'handlerStatus'/],
  ];
  for (const [name, text, expected] of malformed) {
    it(`reports a file that is ${name} as not a summary`, async () => {
      await mkdir(join(directory, 'Logs', 'himdsproxy'), { recursive: true });
      await writeFile(file, text);
      try {
        await readLastRun(file);
        expect.fail('readLastRun should have thrown');
      } catch (error) {
        expect(error).to.be.instanceOf(HimdsproxyError);
        expect((error as HimdsproxyError).message).to.match(expected);
        expect((error as HimdsproxyError).message).to.include(file);
        expect((error as HimdsproxyError).fix).to.include('Delete it');
      }
    });
  }

  it('fails with the cause when the folder cannot be created', async () => {
    await writeFile(join(directory, 'Logs'), 'a file where a folder should be');
    try {
      await writeLastRun(file, summary());
      expect.fail('writeLastRun should have thrown');
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).to.be.oneOf(['ENOTDIR', 'EEXIST']);
    }
  });
});
