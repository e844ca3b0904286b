// Doctor check 5 and its probe: instance metadata and a DRS token through a (fake) proxy on a real socket.
import { expect } from 'chai';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ENTRA_DEVICE_REGISTRATION_RESOURCE } from '../../../core/contract.js';
import { himdsCheck } from '../../../orchestrator/doctor/checks/himds.js';
import { runDoctor } from '../../../orchestrator/doctor/doctor.js';
import { HimdsProbeError, probeHimdsThroughProxy, type ProbeProxyLauncher } from '../../../orchestrator/doctor/himds-probe.js';
import { fakeContext, fakePlatform } from './fake-context.js';

const SECRET_TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.secret-payload-for-doctor.signature';

type Answer = { status: number; body: string } | 'drop';

/** Stands in for the proxy the probe launches: answers per path, records what it was asked. */
class FakeProxyServer {
  readonly requests: { path: string; metadataHeader: string | undefined }[] = [];
  instance: Answer = { status: 200, body: JSON.stringify({ compute: { name: 'arc-srv-01', resourceGroupName: 'rg-arc', location: 'westeurope' }, network: {} }) };
  token: Answer = { status: 200, body: JSON.stringify({ access_token: SECRET_TOKEN, expires_in: '86399', resource: ENTRA_DEVICE_REGISTRATION_RESOURCE, token_type: 'Bearer' }) };
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((request: IncomingMessage, response: ServerResponse) => {
      const path = request.url ?? '';
      this.requests.push({ path, metadataHeader: request.headers.metadata as string | undefined });
      const answer = path.startsWith('/metadata/identity/oauth2/token') ? this.token : this.instance;
      if (answer === 'drop') {
        request.socket.destroy();
        return;
      }
      response.writeHead(answer.status, { 'Content-Type': 'application/json' }).end(answer.body);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

describe('probeHimdsThroughProxy', () => {
  let proxy: FakeProxyServer;
  let launched: Parameters<ProbeProxyLauncher>[0][];
  let stops: number;
  const launch: ProbeProxyLauncher = async (options) => {
    launched.push(options);
    return { url: proxy.url, stop: async () => { stops++; } };
  };
  const probe = () => probeHimdsThroughProxy(launch, { himdsUrl: 'http://localhost:40342', tokenDirectory: '/var/opt/azcmagent/tokens', requestTimeoutMs: 5_000 });

  beforeEach(async () => {
    proxy = new FakeProxyServer();
    await proxy.start();
    launched = [];
    stops = 0;
  });
  afterEach(async () => { await proxy.stop(); });

  it('launches a loopback proxy limited to the DRS resource, reads metadata and gets a token, then stops it', async () => {
    const result = await probe();
    expect(result).to.deep.equal({ machineName: 'arc-srv-01', resourceGroup: 'rg-arc', location: 'westeurope', tokenObtained: true });
    expect(JSON.stringify(result).includes(SECRET_TOKEN)).to.equal(false);
    expect(launched).to.deep.equal([{
      listen: '127.0.0.1:0',
      himdsUrl: 'http://localhost:40342',
      tokenDirectory: '/var/opt/azcmagent/tokens',
      allowedResources: [ENTRA_DEVICE_REGISTRATION_RESOURCE],
      upstreamTimeoutMs: 5_000,
    }]);
    expect(proxy.requests.map((request) => request.path)).to.deep.equal([
      '/metadata/instance?api-version=2021-02-01',
      `/metadata/identity/oauth2/token?api-version=2021-02-01&resource=${encodeURIComponent(ENTRA_DEVICE_REGISTRATION_RESOURCE)}`,
    ]);
    expect(proxy.requests.every((request) => request.metadataHeader === 'true')).to.equal(true);
    expect(stops).to.equal(1);
  });

  it('reports a refused token with the IMDS error text and no other field of the body', async () => {
    proxy.token = { status: 500, body: JSON.stringify({ error: 'unknown_error', error_description: 'Could not read the challenge key file: EACCES', access_token: SECRET_TOKEN }) };
    const result = await probe();
    expect(result.tokenObtained).to.equal(false);
    expect(result.tokenFailure).to.equal('HTTP 500: unknown_error: Could not read the challenge key file: EACCES');
    expect(JSON.stringify(result).includes(SECRET_TOKEN)).to.equal(false);
    expect(stops).to.equal(1);
  });

  it('does not count a 200 without an access_token as a token', async () => {
    proxy.token = { status: 200, body: JSON.stringify({ access_token: '', token_type: 'Bearer' }) };
    expect(await probe()).to.include({ tokenObtained: false, tokenFailure: 'HTTP 200 without an access_token' });
  });

  it('reports a non-JSON token answer by status only', async () => {
    proxy.token = { status: 403, body: `<html>${SECRET_TOKEN}</html>` };
    const result = await probe();
    expect(result.tokenFailure).to.equal('HTTP 403');
  });

  it('calls HIMDS unreachable when the proxy answers 502/503/504', async () => {
    for (const status of [502, 503, 504]) {
      proxy.instance = { status, body: JSON.stringify({ error: 'upstream_unavailable', error_description: 'connect ECONNREFUSED 127.0.0.1:40342' }) };
      const error = await probe().then(() => undefined, (caught: unknown) => caught);
      expect(error).to.be.instanceOf(HimdsProbeError);
      expect(error).to.include({ stage: 'unreachable', status });
      expect((error as Error).message).to.contain('ECONNREFUSED');
    }
    expect(stops).to.equal(3);
  });

  it('calls other metadata answers and malformed bodies a metadata problem', async () => {
    const cases: Answer[] = [
      { status: 404, body: JSON.stringify({ error: 'not_found' }) },
      { status: 200, body: 'not json' },
      { status: 200, body: JSON.stringify({ compute: 'text' }) },
      { status: 200, body: JSON.stringify([1, 2]) },
    ];
    for (const answer of cases) {
      proxy.instance = answer;
      const error = await probe().then(() => undefined, (caught: unknown) => caught);
      expect(error, JSON.stringify(answer)).to.be.instanceOf(HimdsProbeError);
      expect((error as HimdsProbeError).stage).to.equal('metadata');
    }
    expect(proxy.requests.some((request) => request.path.includes('oauth2'))).to.equal(false);
    expect(stops).to.equal(cases.length);
  });

  it('fills in empty strings for missing metadata fields', async () => {
    proxy.instance = { status: 200, body: JSON.stringify({ compute: { name: 7 } }) };
    expect(await probe()).to.include({ machineName: '', resourceGroup: '', location: '' });
  });

  it('calls a dropped connection unreachable', async () => {
    proxy.instance = 'drop';
    const error = await probe().then(() => undefined, (caught: unknown) => caught);
    expect(error).to.be.instanceOf(HimdsProbeError);
    expect(error).to.include({ stage: 'unreachable' });
    expect(stops).to.equal(1);
  });

  it('calls a proxy that does not start a proxy problem', async () => {
    const failingLaunch: ProbeProxyLauncher = async () => { throw new Error('The proxy exited with code 5 before it was ready'); };
    const error = await probeHimdsThroughProxy(failingLaunch, { himdsUrl: 'http://localhost:40342', tokenDirectory: '/x' }).then(() => undefined, (caught: unknown) => caught);
    expect(error).to.be.instanceOf(HimdsProbeError);
    expect(error).to.include({ stage: 'proxy' });
    expect((error as Error).message).to.contain('exited with code 5');
  });
});

describe('doctor check 5: HIMDS', () => {
  it('passes with machine, resource group and location, and says the token is not shown', async () => {
    const result = await himdsCheck.run(fakeContext());
    expect(result.outcome).to.equal('pass');
    expect(result.detail).to.contain('machine arc-srv-01 in resource group rg-arc, westeurope');
    expect(result.detail).to.contain('(not shown)');
  });

  it('fails when no token came, pointing at the key files', async () => {
    const result = await himdsCheck.run(fakeContext({
      probeHimds: async () => ({ machineName: 'arc-srv-01', resourceGroup: 'rg-arc', location: 'westeurope', tokenObtained: false, tokenFailure: 'HTTP 500: unknown_error' }),
    }));
    expect(result.outcome).to.equal('fail');
    expect(result.detail).to.contain('(HTTP 500: unknown_error)');
    expect(result.fix).to.contain('Run as Administrator');
    expect(result.fix).to.contain('C:\\ProgramData\\AzureConnectedMachineAgent\\Tokens');
  });

  it('fails with service advice per platform when HIMDS is unreachable', async () => {
    const unreachable = async (): Promise<never> => { throw new HimdsProbeError('Instance metadata: HTTP 502', 'unreachable', 502); };
    const windows = await himdsCheck.run(fakeContext({ probeHimds: unreachable }));
    expect(windows.outcome).to.equal('fail');
    expect(windows.detail).to.contain('HTTP 502');
    expect(windows.fix).to.contain('Start-Service himds');
    expect(windows.fix).to.contain('--himds');
    const linux = await himdsCheck.run(fakeContext({ probeHimds: unreachable, platform: fakePlatform({ name: 'linux' }) }));
    expect(linux.fix).to.contain('systemctl start himdsd');
  });

  it('fails with a way to see why when the probe proxy does not start', async () => {
    const result = await himdsCheck.run(fakeContext({ probeHimds: async () => { throw new HimdsProbeError('The probe proxy did not start: boom', 'proxy'); } }));
    expect(result.outcome).to.equal('fail');
    expect(result.fix).to.contain('himdsproxy serve --listen 127.0.0.1:0');
  });

  it('leaves unexpected errors to runDoctor, which reports them as a failure', async () => {
    const results = await runDoctor(fakeContext({ probeHimds: async () => { throw new RangeError('surprise'); } }));
    const himds = results.find((result) => result.id === 'himds')!;
    expect(himds.outcome).to.equal('fail');
    expect(himds.detail).to.contain('RangeError: surprise');
  });
});
