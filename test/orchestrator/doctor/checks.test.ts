// Doctor checks 1–4, 7 and 8 against injected fakes and recorded process lists.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CheckResult, DoctorCheck } from '../../../orchestrator/doctor/check.js';
import { arcAgentCheck } from '../../../orchestrator/doctor/checks/arc-agent.js';
import { elevationCheck } from '../../../orchestrator/doctor/checks/elevation.js';
import { entraJoinCheck } from '../../../orchestrator/doctor/checks/entra-join.js';
import { nodeVersionCheck, satisfiesMinimumVersion } from '../../../orchestrator/doctor/checks/node-version.js';
import { NATIVE_ARC_SIGN_IN_DOCS, operatingSystemCheck } from '../../../orchestrator/doctor/checks/operating-system.js';
import { ENTRA_HOSTS, outboundCheck } from '../../../orchestrator/doctor/checks/outbound.js';
import type { DoctorContext, RunningProcess } from '../../../orchestrator/doctor/context.js';
import type { OperatingSystemInfo } from '../../../orchestrator/platform/types.js';
import { fakeContext, fakePlatform, WINDOWS_SERVER_2022 } from './fake-context.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'doctor');
function recordedProcessList(name: string): () => Promise<RunningProcess[]> {
  const list = JSON.parse(readFileSync(join(fixtures, name), 'utf8')) as RunningProcess[];
  return async () => list;
}

async function run(check: DoctorCheck, overrides: Partial<DoctorContext> = {}): Promise<Omit<CheckResult, 'id' | 'title'>> {
  return check.run(fakeContext(overrides));
}

function onOs(operatingSystem: OperatingSystemInfo): Partial<DoctorContext> {
  return { platform: fakePlatform({ operatingSystem, name: operatingSystem.platform === 'win32' ? 'windows' : 'linux' }) };
}

describe('doctor check 1: operating system', () => {
  it('passes on Windows Server 2022', async () => {
    const result = await run(operatingSystemCheck, onOs(WINDOWS_SERVER_2022));
    expect(result.outcome).to.equal('pass');
    expect(result.detail).to.contain('Windows Server 2022 Datacenter');
  });

  it('warns on Windows Server 2025 (build 26100, server) and points to the native extension', async () => {
    const result = await run(operatingSystemCheck, onOs({ platform: 'win32', productName: 'Windows Server 2025 Standard', version: '10.0.26100', build: 26100, isWindowsServer: true }));
    expect(result.outcome).to.equal('warn');
    expect(result.detail).to.contain('Windows Server 2025 and later');
    expect(result.fix).to.contain(NATIVE_ARC_SIGN_IN_DOCS);
  });

  it('warns on Windows 11 24H2 (build 26100, workstation) and later builds', async () => {
    for (const build of [26100, 26200]) {
      const result = await run(operatingSystemCheck, onOs({ platform: 'win32', productName: 'Windows 11 Enterprise', version: `10.0.${build}`, build, isWindowsServer: false }));
      expect(result.outcome).to.equal('warn');
      expect(result.detail).to.contain('Windows 11 24H2 and later');
    }
  });

  it('passes on Windows 11 23H2 (build 22631), one release before native support', async () => {
    const result = await run(operatingSystemCheck, onOs({ platform: 'win32', productName: 'Windows 11 Pro', version: '10.0.22631', build: 22631, isWindowsServer: false }));
    expect(result.outcome).to.equal('pass');
  });

  it('warns that builds older than 17763 get error 51', async () => {
    const result = await run(operatingSystemCheck, onOs({ platform: 'win32', productName: 'Windows Server 2016 Datacenter', version: '10.0.14393', build: 14393, isWindowsServer: true }));
    expect(result.outcome).to.equal('warn');
    expect(result.detail).to.contain('error 51');
  });

  it('warns when the build number is unknown', async () => {
    const result = await run(operatingSystemCheck, onOs({ platform: 'win32', productName: 'Windows', version: '', isWindowsServer: true }));
    expect(result.outcome).to.equal('warn');
  });

  it('warns on Linux that AADLoginForWindows needs Windows but serve works', async () => {
    const result = await run(operatingSystemCheck, onOs({ platform: 'linux', productName: 'Ubuntu 24.04.1 LTS', version: '6.8.0-45-generic', isWindowsServer: false }));
    expect(result.outcome).to.equal('warn');
    expect(result.detail).to.contain('AADLoginForWindows needs Windows');
    expect(result.detail).to.contain('serve is fully supported');
  });
});

describe('doctor check 2: elevation', () => {
  it('passes when elevated', async () => {
    expect((await run(elevationCheck)).outcome).to.equal('pass');
  });

  it('fails when not Administrator, telling how to elevate', async () => {
    const result = await run(elevationCheck, { platform: fakePlatform({ elevated: false }) });
    expect(result.outcome).to.equal('fail');
    expect(result.fix).to.contain('Run as Administrator');
  });

  it('fails on Linux when not root, suggesting sudo', async () => {
    const result = await run(elevationCheck, { platform: fakePlatform({ name: 'linux', elevated: false }) });
    expect(result.outcome).to.equal('fail');
    expect(result.detail).to.contain('root');
    expect(result.fix).to.contain('sudo');
  });

  it('only warns for a loopback listen address, where no address is added', async () => {
    for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]']) {
      const result = await run(elevationCheck, { platform: fakePlatform({ elevated: false }), listen: { host, port: 8080 } });
      expect(result.outcome, host).to.equal('warn');
    }
  });

  it('does not treat look-alikes of loopback as loopback', async () => {
    for (const host of ['127.0.0.1.example.com', '1127.0.0.1', '169.254.169.254', '0.0.0.0']) {
      const result = await run(elevationCheck, { platform: fakePlatform({ elevated: false }), listen: { host, port: 80 } });
      expect(result.outcome, host).to.equal('fail');
    }
  });
});

describe('doctor check 3: Node.js version', () => {
  it('compares against ">=X.Y(.Z)" ranges', () => {
    const table: [string, string, boolean][] = [
      ['20.19.0', '>=20.19', true],
      ['20.18.9', '>=20.19', false],
      ['v20.19.2', '>=20.19', true],
      ['21.0.0', '>=20.19', true],
      ['20.9.0', '>=20.19', false],
      ['22.1.0', '>=22', true],
      ['21.99.99', '>=22', false],
      ['20.19.1', '>= 20.19.2', false],
      ['20.19.2', '>=20.19.2', true],
      ['24.0.0-nightly2025', '>=20.19', true],
    ];
    for (const [version, range, expected] of table) {
      expect(satisfiesMinimumVersion(version, range), `${version} ${range}`).to.equal(expected);
    }
  });

  it('rejects ranges and versions it cannot read instead of guessing', () => {
    for (const range of ['^20.19', '20.19', '>=20.x', '', '>=20.19 <23']) {
      expect(() => satisfiesMinimumVersion('20.19.0', range), range).to.throw(RangeError);
    }
    expect(() => satisfiesMinimumVersion('twenty', '>=20')).to.throw(RangeError);
  });

  it('passes on a new enough Node.js', async () => {
    expect((await run(nodeVersionCheck, { nodeVersion: '22.11.0' })).outcome).to.equal('pass');
  });

  it('fails on an old Node.js with an install hint', async () => {
    const result = await run(nodeVersionCheck, { nodeVersion: '18.20.4' });
    expect(result.outcome).to.equal('fail');
    expect(result.detail).to.contain('18.20.4');
    expect(result.detail).to.contain('>=20.19');
    expect(result.fix).to.contain('nodejs.org');
  });
});

describe('doctor check 4: Arc agent', () => {
  it('passes with himds.exe running (recorded Windows process list) and both variables set', async () => {
    const result = await run(arcAgentCheck, { processList: recordedProcessList('ps-list-windows-arc.json') });
    expect(result.outcome).to.equal('pass');
    expect(result.detail).to.contain('pid 3120');
    expect(result.detail).to.contain('IMDS_ENDPOINT=http://localhost:40342');
  });

  it('passes with himds running on Linux (recorded process list)', async () => {
    const result = await run(arcAgentCheck, { platform: fakePlatform({ name: 'linux' }), processList: recordedProcessList('ps-list-linux-arc.json') });
    expect(result.outcome).to.equal('pass');
    expect(result.detail).to.contain('pid 812');
  });

  it('warns when himds is not running, with how to start it', async () => {
    const result = await run(arcAgentCheck, { processList: recordedProcessList('ps-list-windows-no-agent.json') });
    expect(result.outcome).to.equal('warn');
    expect(result.detail).to.contain('no himds process');
    expect(result.fix).to.contain('Start-Service himds');
  });

  it('is not fooled by processes whose names only contain himds', async () => {
    const result = await run(arcAgentCheck, { processList: recordedProcessList('ps-list-lookalikes.json') });
    expect(result.outcome).to.equal('warn');
    expect(result.detail).to.contain('no himds process');
  });

  it('warns when the endpoint variables are missing or blank', async () => {
    const result = await run(arcAgentCheck, { env: { IMDS_ENDPOINT: '   ' } });
    expect(result.outcome).to.equal('warn');
    expect(result.detail).to.contain('IMDS_ENDPOINT and IDENTITY_ENDPOINT not set');
  });

  it('warns when a variable is not an http URL', async () => {
    const result = await run(arcAgentCheck, { env: { IMDS_ENDPOINT: 'http://localhost:40342', IDENTITY_ENDPOINT: 'localhost:40342/metadata' } });
    expect(result.outcome).to.equal('warn');
    expect(result.detail).to.contain('IDENTITY_ENDPOINT is not an http URL');
    expect(result.detail).to.contain('IMDS_ENDPOINT=http://localhost:40342');
  });

  it('gives the Linux advice on Linux', async () => {
    const result = await run(arcAgentCheck, { platform: fakePlatform({ name: 'linux' }), processList: async () => [], env: {} });
    expect(result.fix).to.contain('systemctl start himdsd');
    expect(result.fix).to.contain('systemd services');
  });
});

describe('doctor check 7: Entra join state', () => {
  it('reports an existing join with DeviceId and TenantId as info', async () => {
    const joinState = { joined: true, deviceId: '6f1b5c2e-0000-4a3c-9d10-3c2e5f1a7b88', tenantId: '72f988bf-0000-41af-91ab-2d7cd011db47', tenantName: 'Contoso' };
    const result = await run(entraJoinCheck, { platform: fakePlatform({ joinState }) });
    expect(result.outcome).to.equal('info');
    expect(result.detail).to.contain('Already Entra joined');
    expect(result.detail).to.contain(joinState.deviceId);
    expect(result.detail).to.contain(joinState.tenantId);
    expect(result.detail).to.contain('--force');
  });

  it('says "not joined yet" as info', async () => {
    const result = await run(entraJoinCheck);
    expect(result.outcome).to.equal('info');
    expect(result.detail).to.contain('Not Entra joined yet');
  });

  it('is not applicable where the OS has no Entra join', async () => {
    const result = await run(entraJoinCheck, { platform: fakePlatform({ name: 'linux', joinState: undefined }) });
    expect(result.outcome).to.equal('info');
    expect(result.detail).to.contain('Not applicable on linux');
  });

  it('warns (never fails) when dsregcmd cannot be read', async () => {
    const result = await run(entraJoinCheck, { platform: fakePlatform({ joinState: new Error('dsregcmd exited with code 1') }) });
    expect(result.outcome).to.equal('warn');
    expect(result.detail).to.contain('dsregcmd exited with code 1');
  });
});

describe('doctor check 8: outbound reachability', () => {
  it('passes when every host resolves and connects on 443, checking all four hosts', async () => {
    const resolved: string[] = [];
    const connected: string[] = [];
    const result = await run(outboundCheck, {
      resolveHost: async (host) => { resolved.push(host); return [`192.0.2.${resolved.length}`]; },
      canConnect: async (host, port, timeoutMs) => { connected.push(`${host}:${port}/${timeoutMs}`); return true; },
    });
    expect(result.outcome).to.equal('pass');
    expect(resolved).to.have.members([...ENTRA_HOSTS]);
    expect(connected).to.have.length(4);
    for (const target of connected) expect(target).to.match(/:443\/2000$/);
  });

  it('warns (never fails) and names each unreachable host and why', async () => {
    const result = await run(outboundCheck, {
      resolveHost: async (host) => {
        if (host === 'pas.windows.net') throw Object.assign(new Error('getaddrinfo ENOTFOUND pas.windows.net'), { code: 'ENOTFOUND' });
        if (host === 'login.microsoftonline.com') return [];
        return ['192.0.2.7'];
      },
      canConnect: async () => false,
    });
    expect(result.outcome).to.equal('warn');
    expect(result.detail).to.contain('4 of 4 unreachable');
    expect(result.detail).to.contain('pas.windows.net: DNS lookup failed (ENOTFOUND)');
    expect(result.detail).to.contain('login.microsoftonline.com: DNS lookup found no address');
    expect(result.detail).to.contain('enterpriseregistration.windows.net: no TCP connection to 192.0.2.7:443');
    expect(result.fix).to.contain('-2145648607');
  });

  it('runs the hosts in parallel', async () => {
    let waiting = 0;
    let mostAtOnce = 0;
    await run(outboundCheck, {
      canConnect: async () => {
        waiting++;
        mostAtOnce = Math.max(mostAtOnce, waiting);
        await new Promise((resolve) => setImmediate(resolve));
        waiting--;
        return true;
      },
    });
    expect(mostAtOnce).to.equal(4);
  });

  it('asks nothing of DNS or the network with --no-outbound-check, and says it did not test', async () => {
    const asked: string[] = [];
    const result = await run(outboundCheck, {
      checkOutbound: false,
      resolveHost: async (host) => { asked.push(host); return ['192.0.2.1']; },
      canConnect: async (host) => { asked.push(host); return true; },
    });
    expect(asked).to.deep.equal([]);
    expect(result.outcome).to.equal('info');
    expect(result.detail).to.include('--no-outbound-check');
  });
});
