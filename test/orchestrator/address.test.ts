// The address step with a fake platform adapter that records calls, and a fake probe.
import { expect } from 'chai';
import { EXIT_CODES, HimdsproxyError } from '../../orchestrator/errors.js';
import type { PlatformAdapter } from '../../orchestrator/platform/types.js';
import { MemoryReporter } from '../../orchestrator/reporter.js';
import type { AddressOccupant } from '../../orchestrator/steps/address-probe.js';
import { isLoopbackHost } from '../../core/contract.js';
import { claimMetadataAddress } from '../../orchestrator/steps/address.js';
import { rejectionOf } from '../support/rejection.js';

const IMDS = { host: '169.254.169.254', port: 80 };

/** Keeps a set of addresses like a machine would; switches make it misbehave. */
class FakePlatform implements PlatformAdapter {
  readonly name = 'linux' as const;
  readonly calls: string[] = [];
  readonly addresses = new Set<string>();
  addSilentlyFails = false;
  removeFailures = 0;

  async hasLoopbackAddress(address: string): Promise<boolean> {
    this.calls.push(`has ${address}`);
    return this.addresses.has(address);
  }
  async addLoopbackAddress(address: string): Promise<void> {
    this.calls.push(`add ${address}`);
    if (!this.addSilentlyFails) this.addresses.add(address);
  }
  async removeLoopbackAddress(address: string): Promise<void> {
    this.calls.push(`remove ${address}`);
    if (this.removeFailures > 0) {
      this.removeFailures -= 1;
      throw new HimdsproxyError('Command failed with exit code 1: netsh …', EXIT_CODES.preflightFailed);
    }
    this.addresses.delete(address);
  }
  async isElevated(): Promise<boolean> { return true; }
  async entraJoinState() { return undefined; }
  async operatingSystem() { return { platform: 'linux' as const, productName: 'Test', version: '1', isWindowsServer: false }; }
}

function probeAnswering(occupant: AddressOccupant) {
  const seen: string[] = [];
  const probe = async (host: string, port: number): Promise<AddressOccupant> => {
    seen.push(`${host}:${port}`);
    return occupant;
  };
  return Object.assign(probe, { seen });
}


describe('claimMetadataAddress', () => {
  it('changes nothing for a loopback listen host', async () => {
    for (const host of ['127.0.0.1', '127.8.9.10', '::1', 'localhost', 'LOCALHOST']) {
      const platform = new FakePlatform();
      const probe = probeAnswering({ kind: 'free' });
      const claim = await claimMetadataAddress({ host, port: 0 }, platform, new MemoryReporter(), { probe });
      expect(claim.addedByThisRun, host).to.equal(false);
      await claim.release();
      expect(platform.calls, host).to.deep.equal([]);
      expect(probe.seen, host).to.deep.equal([]);
    }
  });

  it('probes, adds, verifies, and removes on release', async () => {
    const platform = new FakePlatform();
    const reporter = new MemoryReporter();
    const probe = probeAnswering({ kind: 'free' });
    const claim = await claimMetadataAddress(IMDS, platform, reporter, { probe });
    expect(probe.seen).to.deep.equal(['169.254.169.254:80']);
    expect(claim).to.include({ host: '169.254.169.254', addedByThisRun: true });
    expect(platform.calls).to.deep.equal(['has 169.254.169.254', 'add 169.254.169.254', 'has 169.254.169.254']);
    expect(platform.addresses.has('169.254.169.254')).to.equal(true);

    await claim.release();
    expect(platform.calls.at(-1)).to.equal('remove 169.254.169.254');
    expect(platform.addresses.has('169.254.169.254')).to.equal(false);
    expect(reporter.text()).to.include('Added 169.254.169.254/32 to the loopback interface');
    expect(reporter.text()).to.include('Removed 169.254.169.254 from the loopback interface');
  });

  it('release is idempotent, also when called concurrently', async () => {
    const platform = new FakePlatform();
    const claim = await claimMetadataAddress(IMDS, platform, new MemoryReporter(), { probe: probeAnswering({ kind: 'free' }) });
    await Promise.all([claim.release(), claim.release()]);
    await claim.release();
    expect(platform.calls.filter((call) => call.startsWith('remove'))).to.deep.equal(['remove 169.254.169.254']);
  });

  it('a failed release can be retried', async () => {
    const platform = new FakePlatform();
    platform.removeFailures = 1;
    const claim = await claimMetadataAddress(IMDS, platform, new MemoryReporter(), { probe: probeAnswering({ kind: 'free' }) });
    await rejectionOf(claim.release(), HimdsproxyError);
    expect(platform.addresses.has('169.254.169.254')).to.equal(true);
    await claim.release();
    expect(platform.addresses.has('169.254.169.254')).to.equal(false);
  });

  it('uses an address that was already there and never removes it', async () => {
    const platform = new FakePlatform();
    platform.addresses.add('169.254.169.254');
    const claim = await claimMetadataAddress(IMDS, platform, new MemoryReporter(), { probe: probeAnswering({ kind: 'free' }) });
    expect(claim.addedByThisRun).to.equal(false);
    await claim.release();
    await claim.release();
    expect(platform.calls).to.deep.equal(['has 169.254.169.254']);
    expect(platform.addresses.has('169.254.169.254')).to.equal(true);
  });

  it('refuses on an Azure VM, pointing at the VM extension, and changes nothing', async () => {
    const platform = new FakePlatform();
    const error = await rejectionOf(claimMetadataAddress(IMDS, platform, new MemoryReporter(), { probe: probeAnswering({ kind: 'azure-imds' }), force: true }), HimdsproxyError);
    expect(error.exitCode).to.equal(EXIT_CODES.preflightFailed);
    expect(error.message).to.match(/Azure IMDS already answers at http:\/\/169\.254\.169\.254:80: this is an Azure VM/);
    expect(error.fix).to.match(/use the AADLoginForWindows VM extension instead/);
    expect(platform.calls).to.deep.equal([]);
  });

  it('refuses AWS EC2 IMDS unless forced, then takes and gives back the address', async () => {
    const platform = new FakePlatform();
    const error = await rejectionOf(claimMetadataAddress(IMDS, platform, new MemoryReporter(), { probe: probeAnswering({ kind: 'aws-imds' }) }), HimdsproxyError);
    expect(error.message).to.match(/AWS EC2 IMDS answers/);
    expect(error.fix).to.match(/--force/);
    expect(platform.calls).to.deep.equal([]);

    const reporter = new MemoryReporter();
    const claim = await claimMetadataAddress(IMDS, platform, reporter, { probe: probeAnswering({ kind: 'aws-imds' }), force: true });
    expect(claim.addedByThisRun).to.equal(true);
    expect(reporter.lines.some((line) => line.level === 'warn' && /--force/.test(line.message))).to.equal(true);
    await claim.release();
    expect(platform.addresses.size).to.equal(0);
  });

  it('refuses when a himdsproxy already serves there, even with --force', async () => {
    const platform = new FakePlatform();
    const error = await rejectionOf(claimMetadataAddress(IMDS, platform, new MemoryReporter(), { probe: probeAnswering({ kind: 'himdsproxy' }), force: true }), HimdsproxyError);
    expect(error.message).to.equal('A himdsproxy is already serving at http://169.254.169.254:80 (stale run?)');
    expect(platform.calls).to.deep.equal([]);
  });

  it('refuses anything else answering, naming it', async () => {
    const platform = new FakePlatform();
    const detail = 'an HTTP server (Server: nginx/1.25.3) answers on 169.254.169.254:80: HTTP 404 to GET /metadata/instance';
    const error = await rejectionOf(claimMetadataAddress(IMDS, platform, new MemoryReporter(), { probe: probeAnswering({ kind: 'other', detail }), force: true }), HimdsproxyError);
    expect(error.message).to.equal(`The metadata address is taken: ${detail}`);
    expect(platform.calls).to.deep.equal([]);
  });

  it('fails when the address is absent right after adding it', async () => {
    const platform = new FakePlatform();
    platform.addSilentlyFails = true;
    const error = await rejectionOf(claimMetadataAddress(IMDS, platform, new MemoryReporter(), { probe: probeAnswering({ kind: 'free' }) }), HimdsproxyError);
    expect(error.message).to.equal('Added 169.254.169.254 to the loopback interface, but it is not there afterwards');
    expect(platform.calls).to.deep.equal(['has 169.254.169.254', 'add 169.254.169.254', 'has 169.254.169.254']);
  });

  it('passes an adapter failure through unchanged (e.g. not elevated)', async () => {
    const platform = new FakePlatform();
    const denied = new HimdsproxyError('Command failed with exit code 1: netsh.exe …', EXIT_CODES.preflightFailed, 'Run as Administrator: …');
    platform.addLoopbackAddress = async () => { throw denied; };
    const error = await rejectionOf(claimMetadataAddress(IMDS, platform, new MemoryReporter(), { probe: probeAnswering({ kind: 'free' }) }), HimdsproxyError);
    expect(error).to.equal(denied);
  });

  it('rejects hosts that are not one IPv4 address before probing or changing anything', async () => {
    for (const host of ['0.0.0.0', 'metadata.example', '169.254.169.254.evil', 'fe80::1', '']) {
      const platform = new FakePlatform();
      const probe = probeAnswering({ kind: 'free' });
      const error = await rejectionOf(claimMetadataAddress({ host, port: 80 }, platform, new MemoryReporter(), { probe }), HimdsproxyError);
      expect(error.exitCode, host).to.equal(EXIT_CODES.usage);
      expect(platform.calls, host).to.deep.equal([]);
      expect(probe.seen, host).to.deep.equal([]);
    }
  });
});

describe('isLoopbackHost', () => {
  const table: [string, boolean][] = [
    ['127.0.0.1', true], ['127.255.255.254', true], ['::1', true], ['[::1]', true], ['localhost', true], ['::ffff:127.0.0.1', true], ['[::ffff:7f00:1]', true], ['::ffff:8000:1', false],
    ['169.254.169.254', false], ['0.0.0.0', false], ['128.0.0.1', false], ['127.0.0', false], ['127.0.0.1.example', false],
    ['localhost.example', false], ['', false], ['::', false],
  ];
  for (const [host, expected] of table) {
    it(`${JSON.stringify(host)} → ${expected}`, () => expect(isLoopbackHost(host)).to.equal(expected));
  }
});
