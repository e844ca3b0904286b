// The Linux adapter: pure parsing as a table, then the real `ip` inside a private network namespace.
import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HimdsproxyError } from '../../../orchestrator/errors.js';
import { execaCommandRunner } from '../../../orchestrator/platform/command-runner.js';
import { createLinuxAdapter, interfacesHoldingAddress, prettyNameFromOsRelease } from '../../../orchestrator/platform/linux.js';
import { createPlatformAdapter } from '../../../orchestrator/platform/index.js';
import { canCreateNetworkNamespace, runInNetworkNamespace } from '../../support/network-namespace.js';
import { RecordedCommandRunner } from '../../support/recorded-command-runner.js';

const here = dirname(fileURLToPath(import.meta.url));
const roundTripScript = join(here, '..', '..', 'fixtures', 'linux', 'adapter-round-trip.ts');
const IMDS = '169.254.169.254';
const LIST = ['-j', '-4', 'address', 'show'];
const ipJson = (addresses: { dev: string; local: string }[]): string =>
  JSON.stringify(
    ['lo', 'eth0'].map((dev, index) => ({
      ifindex: index + 1,
      ifname: dev,
      addr_info: addresses.filter((entry) => entry.dev === dev).map((entry) => ({ family: 'inet', local: entry.local, prefixlen: 32 })),
    })),
  );

describe('linux platform adapter', () => {
  describe('parsing', () => {
    it('finds which interfaces hold an address in `ip -j` output', () => {
      expect(interfacesHoldingAddress(ipJson([{ dev: 'lo', local: '127.0.0.1' }]), IMDS)).to.deep.equal([]);
      expect(interfacesHoldingAddress(ipJson([{ dev: 'lo', local: IMDS }, { dev: 'eth0', local: IMDS }]), IMDS)).to.deep.equal(['lo', 'eth0']);
      // Older iproute2 prints {} for interfaces the -4 filter emptied.
      expect(interfacesHoldingAddress('[{},{"ifname":"lo","addr_info":[{"local":"169.254.169.254"}]}]', IMDS)).to.deep.equal(['lo']);
    });

    it('returns undefined for output that is not iproute2 JSON', () => {
      for (const text of ['', 'lo: <LOOPBACK,UP>', '{}', '[1]', '[{"ifname":"lo","addr_info":{}}]', '[{"ifname":7,"addr_info":[]}]', 'null']) {
        expect(interfacesHoldingAddress(text, IMDS), text).to.equal(undefined);
      }
    });

    it('reads PRETTY_NAME from os-release, quoted or not, else NAME', () => {
      expect(prettyNameFromOsRelease('NAME="Ubuntu"\nPRETTY_NAME="Ubuntu 24.04.1 LTS"\n')).to.equal('Ubuntu 24.04.1 LTS');
      expect(prettyNameFromOsRelease("NAME='Alpine Linux'\n")).to.equal('Alpine Linux');
      expect(prettyNameFromOsRelease('PRETTY_NAME=Debian\r\n')).to.equal('Debian');
      expect(prettyNameFromOsRelease('garbage')).to.equal(undefined);
    });
  });

  describe('with a recorded runner', () => {
    it('runs the exact ip commands for has, add and remove', async () => {
      const runner = new RecordedCommandRunner()
        .on('ip', LIST, { stdout: ipJson([]) }, { stdout: ipJson([{ dev: 'lo', local: IMDS }]) })
        .on('ip', ['address', 'add', `${IMDS}/32`, 'dev', 'lo'], {})
        .on('ip', ['address', 'del', `${IMDS}/32`, 'dev', 'lo'], {});
      const adapter = createLinuxAdapter(runner);
      expect(await adapter.hasLoopbackAddress(IMDS)).to.equal(false);
      await adapter.addLoopbackAddress(IMDS);
      await adapter.removeLoopbackAddress(IMDS);
      expect(runner.calls.map((call) => [call.file, ...call.args])).to.deep.equal([
        ['ip', ...LIST],
        ['ip', 'address', 'add', `${IMDS}/32`, 'dev', 'lo'],
        ['ip', ...LIST],
        ['ip', 'address', 'del', `${IMDS}/32`, 'dev', 'lo'],
      ]);
    });

    it('says to run as root when ip is refused', async () => {
      const runner = new RecordedCommandRunner().on('ip', ['address', 'add', `${IMDS}/32`, 'dev', 'lo'], { exitCode: 2, stderr: 'RTNETLINK answers: Operation not permitted\n' });
      try {
        await createLinuxAdapter(runner).addLoopbackAddress(IMDS);
        expect.fail('expected a failure');
      } catch (error) {
        expect(error).to.be.instanceOf(HimdsproxyError);
        expect((error as HimdsproxyError).message).to.equal(
          `Command failed with exit code 2: ip address add ${IMDS}/32 dev lo\nRTNETLINK answers: Operation not permitted`,
        );
        expect((error as HimdsproxyError).fix).to.match(/^Run as root/);
      }
    });

    it('rejects a non-IPv4 address before running anything', async () => {
      const runner = new RecordedCommandRunner();
      for (const hostile of ['169.254.169.254/0', '-f', 'lo', '::1']) {
        let thrown: unknown;
        await createLinuxAdapter(runner).addLoopbackAddress(hostile).catch((error: unknown) => (thrown = error));
        expect(String(thrown), hostile).to.match(/IPv4/);
      }
      expect(runner.calls).to.deep.equal([]);
    });

    it('reads the OS name from an os-release file and has no Entra join state', async () => {
      const directory = await mkdtemp(join(tmpdir(), 'himdsproxy-os-release-'));
      try {
        const file = join(directory, 'os-release');
        await writeFile(file, 'PRETTY_NAME="Test Linux 1.0"\n');
        const adapter = createLinuxAdapter(new RecordedCommandRunner(), { osReleaseFile: file });
        const info = await adapter.operatingSystem();
        expect(info).to.include({ platform: 'linux', productName: 'Test Linux 1.0', isWindowsServer: false });
        expect(info.build).to.equal(undefined);
        expect(await adapter.entraJoinState()).to.equal(undefined);
        const missing = await createLinuxAdapter(new RecordedCommandRunner(), { osReleaseFile: join(directory, 'absent') }).operatingSystem();
        expect(missing.productName).to.equal('Linux');
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    });
  });

  describe('createPlatformAdapter', () => {
    it('picks the adapter by platform and refuses others by name', () => {
      expect(createPlatformAdapter('win32', new RecordedCommandRunner()).name).to.equal('windows');
      expect(createPlatformAdapter('linux', new RecordedCommandRunner()).name).to.equal('linux');
      expect(() => createPlatformAdapter('darwin')).to.throw(HimdsproxyError, /Unsupported operating system: darwin/);
    });
  });

  describe('real ip inside a private network namespace', function () {
    let hostHadAddress: boolean;

    before(async function () {
      hostHadAddress = await createLinuxAdapter(execaCommandRunner).hasLoopbackAddress(IMDS);
      const capability = await canCreateNetworkNamespace();
      if (!capability.ok) {
        console.log(`      skipped: ${capability.reason}`);
        this.skip();
      }
    });

    it('adds, finds, removes and no longer finds 169.254.169.254 on lo', async () => {
      const tsx = import.meta.resolve('tsx');
      const result = await runInNetworkNamespace(process.execPath, ['--import', tsx, roundTripScript, IMDS], { timeoutMs: 30_000 });
      expect(result.exitCode, result.stderr).to.equal(0);
      const report = JSON.parse(result.stdout) as Record<string, unknown>;
      expect(report).to.deep.include({
        elevated: true,
        before: false,
        add: 'ok',
        afterAdd: true,
        remove: 'ok',
        afterRemove: false,
        removeAgain: 'ok',
        joinState: null,
      });
      expect(report.loAfterAdd).to.deep.equal(['127.0.0.1/8', `${IMDS}/32`]);
      expect(report.loAfterRemove).to.deep.equal(['127.0.0.1/8']);
      // Adding twice is a clear failure naming the command, not a silent success.
      expect(report.addAgain).to.match(/^Command failed with exit code 2: ip address add 169\.254\.169\.254\/32 dev lo\n.*(already assigned|exists)/);
    });

    it('leaves the host as it was', async () => {
      expect(await createLinuxAdapter(execaCommandRunner).hasLoopbackAddress(IMDS)).to.equal(hostHadAddress);
    });
  });
});
