// The work folder's run lock: one holder at a time, across processes; dead holders and garbage taken over.
import { expect } from 'chai';
import { execa, execaNode, type ResultPromise } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT_CODES, HimdsproxyError } from '../../orchestrator/errors.js';
import { isProcessAlive } from '../../orchestrator/process-check.js';
import { MemoryReporter } from '../../orchestrator/reporter.js';
import { acquireRunLock } from '../../orchestrator/run-lock.js';
import { coordinationPaths } from '../../orchestrator/work-folder.js';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const holder = join(projectRoot, 'test', 'fixtures', 'programs', 'hold-run-lock.ts');

interface HolderAnswer { acquired: boolean; exitCode?: number; message?: string }

/** Starts a process that takes the lock; resolves with its answer once it has one. */
function startHolder(workdir: string): { process: ResultPromise; answer: Promise<HolderAnswer> } {
  const child = execaNode(holder, [workdir], { nodeOptions: ['--import', 'tsx'], stdin: 'pipe', reject: false, buffer: false });
  const answer = new Promise<HolderAnswer>((resolvePromise, reject) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const newline = text.indexOf('\n');
      if (newline >= 0) resolvePromise(JSON.parse(text.slice(0, newline)) as HolderAnswer);
    });
    void child.then((result) => reject(new Error(`holder ended without answering: ${String(result.stderr ?? result.exitCode)}`)));
  });
  return { process: child, answer };
}

async function expectRefused(promise: Promise<unknown>): Promise<HimdsproxyError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(HimdsproxyError);
    expect((error as HimdsproxyError).exitCode).to.equal(EXIT_CODES.preflightFailed);
    return error as HimdsproxyError;
  }
  expect.fail('acquireRunLock should have refused');
}

/** A pid that certainly belonged to a process that has exited. */
async function deadPid(): Promise<number> {
  const child = execa(process.execPath, ['-e', '']);
  const pid = child.pid!;
  await child;
  return pid;
}

describe('acquireRunLock', () => {
  let workdir: string;
  let lockFile: string;
  const holders: ResultPromise[] = [];

  beforeEach(async () => {
    workdir = await mkdtemp(join(tmpdir(), 'himdsproxy-lock-'));
    lockFile = coordinationPaths(workdir).lockFile;
  });

  afterEach(async () => {
    for (const child of holders.splice(0)) {
      child.kill('SIGKILL');
      await child;
    }
    await rm(workdir, { recursive: true, force: true });
  });

  it('creates the lock with this process as owner and removes it on release, idempotently', async () => {
    const lock = await acquireRunLock(workdir);
    expect(lock.file).to.equal(lockFile);
    const owner = JSON.parse(await readFile(lockFile, 'utf8')) as Record<string, unknown>;
    expect(owner.pid).to.equal(process.pid);
    expect(owner.hostname).to.equal(hostname());
    expect(Number.isNaN(Date.parse(String(owner.startedAt)))).to.equal(false);
    await lock.release();
    expect(existsSync(lockFile)).to.equal(false);
    await lock.release();
    expect(await readdir(dirname(lockFile))).to.deep.equal([]);
  });

  it('refuses a second acquirer while the first holds it, then lets it in after release', async () => {
    const first = await acquireRunLock(workdir);
    const refusal = await expectRefused(acquireRunLock(workdir));
    expect(refusal.message).to.equal(`Another himdsproxy join is running in ${workdir} (pid ${process.pid}, since ${JSON.parse(await readFile(lockFile, 'utf8')).startedAt})`);
    expect(refusal.fix).to.include(lockFile);
    await first.release();
    const second = await acquireRunLock(workdir);
    await second.release();
  });

  it('lets exactly one of two simultaneous acquirers in', async () => {
    const results = await Promise.allSettled([acquireRunLock(workdir), acquireRunLock(workdir)]);
    expect(results.filter((result) => result.status === 'fulfilled')).to.have.length(1);
    expect(results.filter((result) => result.status === 'rejected')).to.have.length(1);
    for (const result of results) if (result.status === 'fulfilled') await result.value.release();
  });

  it('refuses while another live process holds it, and reports that process', async () => {
    const first = startHolder(workdir);
    holders.push(first.process);
    expect(await first.answer).to.deep.equal({ acquired: true });
    const refusal = await expectRefused(acquireRunLock(workdir));
    expect(refusal.message).to.include(`(pid ${first.process.pid},`);

    first.process.stdin!.end();
    await first.process;
    expect(existsSync(lockFile)).to.equal(false);
  });

  it('a second process is refused with exit code 3 while the first holds the lock', async () => {
    const first = startHolder(workdir);
    holders.push(first.process);
    expect(await first.answer).to.deep.equal({ acquired: true });
    const second = startHolder(workdir);
    holders.push(second.process);
    const answer = await second.answer;
    expect(answer.acquired).to.equal(false);
    expect(answer.exitCode).to.equal(EXIT_CODES.preflightFailed);
    expect(answer.message).to.include('Another himdsproxy join is running');
  });

  it('takes over the lock of a run that was killed with SIGKILL, with a warning', async () => {
    const crashed = startHolder(workdir);
    holders.push(crashed.process);
    expect(await crashed.answer).to.deep.equal({ acquired: true });
    crashed.process.kill('SIGKILL');
    await crashed.process;
    expect(isProcessAlive(crashed.process.pid!)).to.equal(false);
    expect(existsSync(lockFile)).to.equal(true);

    const reporter = new MemoryReporter();
    const lock = await acquireRunLock(workdir, reporter);
    expect(JSON.parse(await readFile(lockFile, 'utf8')).pid).to.equal(process.pid);
    expect(reporter.lines.filter((line) => line.level === 'warn').map((line) => line.message)).to.deep.equal([
      `Took over the lock of an earlier run that is no longer running (pid ${crashed.process.pid} has exited): ${lockFile}`,
    ]);
    await lock.release();
  });

  const garbage: [string, string][] = [
    ['empty', ''],
    ['not JSON', 'locked by bob'],
    ['JSON null', 'null'],
    ['a negative pid', JSON.stringify({ pid: -1, startedAt: '2026-01-01T00:00:00Z', hostname: hostname() })],
    ['a pid as text', JSON.stringify({ pid: '123', startedAt: '2026-01-01T00:00:00Z', hostname: hostname() })],
    ['no host name', JSON.stringify({ pid: 1, startedAt: '2026-01-01T00:00:00Z' })],
  ];
  for (const [name, text] of garbage) {
    it(`takes over a lock file that is ${name}, with a warning`, async () => {
      await mkdir(dirname(lockFile), { recursive: true });
      await writeFile(lockFile, text);
      const reporter = new MemoryReporter();
      const lock = await acquireRunLock(workdir, reporter);
      expect(reporter.text()).to.include('the lock file is not a himdsproxy lock');
      await lock.release();
      expect(existsSync(lockFile)).to.equal(false);
    });
  }

  it('takes over a lock whose pid has exited', async () => {
    const pid = await deadPid();
    await mkdir(dirname(lockFile), { recursive: true });
    await writeFile(lockFile, JSON.stringify({ pid, startedAt: new Date().toISOString(), hostname: hostname() }));
    const reporter = new MemoryReporter();
    const lock = await acquireRunLock(workdir, reporter);
    expect(reporter.text()).to.include(`pid ${pid} has exited`);
    await lock.release();
  });

  it('takes over a lock whose pid now belongs to a process started after the lock was taken', async function () {
    if (process.platform === 'win32') this.skip(); // Windows reports no process start times
    await mkdir(dirname(lockFile), { recursive: true });
    // This very test runner is alive, but started long after this lock claims to have been taken.
    const holderPid = process.ppid;
    await writeFile(lockFile, JSON.stringify({ pid: holderPid, startedAt: '2001-01-01T00:00:00.000Z', hostname: hostname() }));
    const reporter = new MemoryReporter();
    const lock = await acquireRunLock(workdir, reporter);
    expect(reporter.text()).to.include('started after the lock was taken');
    await lock.release();
  });

  it('refuses a lock held by a process on another machine sharing the folder', async () => {
    await mkdir(dirname(lockFile), { recursive: true });
    await writeFile(lockFile, JSON.stringify({ pid: 4242, startedAt: new Date().toISOString(), hostname: 'some-other-host' }));
    const refusal = await expectRefused(acquireRunLock(workdir));
    expect(refusal.message).to.include('on some-other-host');
  });

  it('does not remove a lock another run took over after this one was judged dead', async () => {
    const lock = await acquireRunLock(workdir);
    const successor = JSON.stringify({ pid: 999_999, startedAt: new Date().toISOString(), hostname: hostname() });
    await writeFile(lockFile, successor);
    await lock.release();
    expect(await readFile(lockFile, 'utf8')).to.equal(successor);
  });
});
