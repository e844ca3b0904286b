// join's preflight: warnings and infos reach the user, passes only the log, and failures stop the join with exit code 3.
import { expect } from 'chai';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT_CODES, HimdsproxyError } from '../../../orchestrator/errors.js';
import { MemoryReporter } from '../../../orchestrator/reporter.js';
import { checkPreflight, runPreflight } from '../../../orchestrator/steps/preflight.js';
import { HimdsEmulator } from '../../support/himds-emulator.js';
import { fakeContext, fakePlatform } from './fake-context.js';

async function caught(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(() => undefined, (error: unknown) => error);
}

describe('preflight', () => {
  it('returns every result on a healthy machine; passes go to the log only, infos to the user', async () => {
    const reporter = new MemoryReporter();
    const results = await checkPreflight(fakeContext(), reporter);
    expect(results).to.have.length(9);
    expect(reporter.lines.filter((line) => line.level === 'debug' && line.message.startsWith('preflight pass: '))).to.have.length(8);
    expect(reporter.lines.filter((line) => line.level === 'info').map((line) => line.message)).to.deep.equal([
      'Entra join state: Not Entra joined yet (dsregcmd /status: AzureAdJoined : NO).',
    ]);
    expect(reporter.lines.filter((line) => line.level === 'warn' || line.level === 'error')).to.deep.equal([]);
  });

  it('passes warnings through the Reporter with their fix, and does not stop', async () => {
    const reporter = new MemoryReporter();
    await checkPreflight(fakeContext({ canConnect: async () => false, processList: async () => [] }), reporter);
    const warnings = reporter.lines.filter((line) => line.level === 'warn').map((line) => line.message);
    expect(warnings).to.have.length(2);
    expect(warnings[0]).to.match(/^Arc agent: no himds process is running.*Start-Service himds/);
    expect(warnings[1]).to.match(/^Entra endpoints: 4 of 4 unreachable.*Allow outbound HTTPS/);
  });

  it('throws HimdsproxyError(preflightFailed) listing every failure and its fix', async () => {
    const reporter = new MemoryReporter();
    const error = await caught(checkPreflight(fakeContext({
      platform: fakePlatform({ elevated: false }),
      nodeVersion: '18.19.0',
      canConnect: async () => false,
    }), reporter));
    expect(error).to.be.instanceOf(HimdsproxyError);
    const failure = error as HimdsproxyError;
    expect(failure.exitCode).to.equal(EXIT_CODES.preflightFailed);
    expect(failure.message).to.equal(
      'Preflight failed (2 of 9 checks): Administrator: Not running as Administrator: adding 169.254.169.254 to the loopback interface and reading the Arc agent\'s key files need it; ' +
      'Node.js version: Node.js 18.19.0 is too old: himdsproxy needs >=20.19',
    );
    expect(failure.fix).to.contain('Administrator: Open PowerShell with "Run as Administrator"');
    expect(failure.fix).to.contain('Node.js version: Install the current Node.js LTS');
    expect(failure.fix).to.match(/; run `himdsproxy doctor` for the full table$/);
    expect(failure.message.includes('\n') || failure.fix!.includes('\n')).to.equal(false);
    // The warning still reached the user before the stop; failures are in the log too.
    expect(reporter.lines.some((line) => line.level === 'warn' && line.message.startsWith('Entra endpoints'))).to.equal(true);
    expect(reporter.lines.filter((line) => line.level === 'debug' && line.message.startsWith('preflight FAIL: '))).to.have.length(2);
  });

  it('stops on a check that crashes', async () => {
    const error = await caught(checkPreflight(fakeContext({ probeHimds: async () => { throw new TypeError('x is undefined'); } }), new MemoryReporter()));
    expect(error).to.be.instanceOf(HimdsproxyError);
    expect((error as HimdsproxyError).message).to.contain('HIMDS and token: The check itself failed: TypeError: x is undefined');
  });

  describe('runPreflight (the real context, join options)', () => {
    let workdir: string;
    beforeEach(async () => { workdir = await mkdtemp(join(tmpdir(), 'himdsproxy-preflight-')); });
    afterEach(async () => { await rm(workdir, { recursive: true, force: true }); });

    const offline = { resolveHost: async () => [] as string[], canConnect: async () => false };
    const linux = () => fakePlatform({ name: 'linux', joinState: undefined, operatingSystem: { platform: 'linux', productName: 'Test Linux', version: '6', isWindowsServer: false } });

    it('fails on an unreachable HIMDS and leaves the work folder as it was', async () => {
      // Loopback only: listen port 0 skips the address probe; HIMDS at a closed loopback port.
      const options = { workdir, listen: '127.0.0.1:0', himdsUrl: 'http://127.0.0.1:9', tokenDirectory: join(workdir, 'Tokens'), force: false, checkOutbound: false };
      const error = await caught(runPreflight(options, linux(), new MemoryReporter(), offline));
      expect(error).to.be.instanceOf(HimdsproxyError);
      expect((error as HimdsproxyError).exitCode).to.equal(EXIT_CODES.preflightFailed);
      expect((error as Error).message).to.contain('HIMDS and token: http://127.0.0.1:9');
      expect(await readdir(workdir)).to.deep.equal([]);
    });

    it('passes against the HIMDS emulator, and the run log gets no token or key secret', async () => {
      const emulator = await HimdsEmulator.start({ tokenDirectory: join(workdir, 'Tokens') });
      try {
        const reporter = new MemoryReporter();
        const options = { workdir, listen: '127.0.0.1:0', himdsUrl: emulator.url, tokenDirectory: emulator.tokenDirectory, force: false, checkOutbound: false };
        const results = await runPreflight(options, linux(), reporter, offline);
        expect(results.find((result) => result.id === 'himds')?.outcome).to.equal('pass');
        expect(emulator.issuedAccessTokens.length).to.be.greaterThan(0);
        const logged = reporter.text();
        for (const secret of [...emulator.issuedAccessTokens, ...emulator.issuedSecrets]) expect(logged.includes(secret)).to.equal(false);
      } finally {
        await emulator.stop();
      }
    });
  });
});
