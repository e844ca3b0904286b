// join() in-process on a Windows machine that dsregcmd says is already joined (recorded output):
// exit 0 at once without touching anything; --force runs the join anyway.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join as joinPath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT_CODES, HimdsproxyError } from '../../orchestrator/errors.js';
import { join } from '../../orchestrator/join.js';
import { JOIN_DEFAULTS, type JoinOptions } from '../../orchestrator/join-options.js';
import { createWindowsAdapter } from '../../orchestrator/platform/windows.js';
import { RecordedCommandRunner } from '../support/recorded-command-runner.js';

const FIXTURES = joinPath(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'windows');

describe('join on an already joined machine', () => {
  let workdir: string;
  let runner: RecordedCommandRunner;
  let terminal: string;

  beforeEach(async () => {
    workdir = await mkdtemp(joinPath(tmpdir(), 'himdsproxy-joined-'));
    terminal = '';
    runner = new RecordedCommandRunner().on('dsregcmd.exe', ['/status'], {
      stdout: await readFile(joinPath(FIXTURES, 'dsregcmd-status-joined.txt'), 'utf8'),
    });
  });
  afterEach(async () => {
    await rm(workdir, { recursive: true, force: true });
  });

  function options(overrides: Partial<JoinOptions> = {}): JoinOptions {
    return {
      workdir,
      handlerName: JOIN_DEFAULTS.handlerName,
      handlerVersion: JOIN_DEFAULTS.handlerVersion,
      handlerUrl: 'https://packages.invalid/never-fetched.zip',
      mdmId: '',
      listen: JOIN_DEFAULTS.listen,
      himdsUrl: 'http://127.0.0.1:1',
      tokenDirectory: joinPath(workdir, 'tokens'),
      allowedResources: [...JOIN_DEFAULTS.allowedResources],
      upstreamTimeoutMs: 1_000,
      timeoutMs: 1_000,
      installTimeoutMs: 1_000,
      enableTimeoutMs: 1_000,
      force: false,
      showProgress: false,
      checkOutbound: false,
      ...overrides,
    };
  }

  const environment = (preflight: () => Promise<unknown>) => ({
    platform: createWindowsAdapter(runner),
    signal: new AbortController().signal,
    preflight,
    terminal: { write: (text: string) => (terminal += text) },
  });

  it('exits 0 at once, says so with the DeviceId, and changes nothing but its own log', async () => {
    let preflightRan = false;
    const result = await join(options(), environment(async () => { preflightRan = true; }));

    expect(result.outcome).to.include({ kind: 'already-joined', exitCode: EXIT_CODES.ok });
    expect(result.summaryLine).to.match(/Already joined to Microsoft Entra ID \(DeviceId 5f3c9a2e-8b41-4d7a-9c0e-2a6b1d4e7f93\)/);
    expect(terminal).to.include('Already joined');
    expect(preflightRan).to.equal(false);
    expect(runner.calls.map((call) => [call.file, ...call.args])).to.deep.equal([['dsregcmd.exe', '/status']]);
    expect(existsSync(joinPath(workdir, 'Packages'))).to.equal(false);
    const lastRun = JSON.parse(await readFile(joinPath(workdir, 'Logs', 'himdsproxy', 'last-run.json'), 'utf8'));
    expect(lastRun).to.include({ outcome: 'already-joined', exitCode: 0 });
  });

  it('--force goes on to the preflight checks (here made to fail, to stop before any change)', async () => {
    const result = await join(
      options({ force: true }),
      environment(async () => {
        throw new HimdsproxyError('Preflight failed (test)', EXIT_CODES.preflightFailed);
      }),
    );
    expect(result.outcome).to.include({ kind: 'failed', exitCode: EXIT_CODES.preflightFailed });
    expect(existsSync(joinPath(workdir, 'Packages'))).to.equal(false);
  });
});
