// Doctor check 6 through the real probeMetadataAddress against small fake Azure IMDS / AWS IMDS servers on loopback.
import { expect } from 'chai';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PROXY_SERVER_HEADER } from '../../../core/contract.js';
import { metadataAddressCheck } from '../../../orchestrator/doctor/checks/metadata-address.js';
import { probeMetadataAddress } from '../../../orchestrator/steps/address-probe.js';
import { fakeContext } from './fake-context.js';

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

const azureImds: Handler = (request, response) => {
  if (request.headers.metadata !== 'true') return void response.writeHead(400).end('{"error":"Bad request. Required metadata header not specified"}');
  response.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' })
    .end(JSON.stringify({ compute: { azEnvironment: 'AzurePublicCloud', vmId: '02aab8a4-74ef-476e-8182-f6d2ba4166a6', name: 'azure-vm' }, network: { interface: [] } }));
};

const awsImds: Handler = (request, response) => {
  if (request.method === 'PUT' && request.url === '/latest/api/token') {
    return void response.writeHead(200, { Server: 'EC2ws', 'X-Aws-Ec2-Metadata-Token-Ttl-Seconds': '60' }).end('AQAEAFxkZUx3Q2c2a1pwaGtqN3pOeF9Vd0E9PQ==');
  }
  response.writeHead(404, { Server: 'EC2ws' }).end();
};

const staleProxy: Handler = (_request, response) => {
  response.writeHead(400, { Server: `${PROXY_SERVER_HEADER}/0.1.0`, 'Content-Type': 'application/json' }).end('{"error":"invalid_request"}');
};

const someWebServer: Handler = (_request, response) => {
  response.writeHead(404, { Server: 'Microsoft-IIS/10.0' }).end('<html>Not Found</html>');
};

/** What HTTP.sys answers for a URL no site is bound to (IIS or a service with a wildcard reservation on port 80). */
const httpSys: Handler = (_request, response) => {
  response.writeHead(404, { Server: 'Microsoft-HTTPAPI/2.0', 'Content-Type': 'text/html; charset=us-ascii' }).end('<h2>Not Found</h2>');
};

describe('doctor check 6: metadata address (real probe, fake servers on loopback)', () => {
  let server: Server | undefined;

  async function serve(handler: Handler): Promise<number> {
    server = createServer(handler);
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }

  /** A port that was just free: listen, note it, close. */
  async function freePort(): Promise<number> {
    const port = await serve(() => undefined);
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    return port;
  }

  async function check(port: number, force = false) {
    return metadataAddressCheck.run(fakeContext({ listen: { host: '127.0.0.1', port }, force, probeMetadataAddress: (host, probePort) => probeMetadataAddress(host, probePort, 2_000) }));
  }

  afterEach(async () => {
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
  });

  it('passes when nothing listens', async () => {
    const result = await check(await freePort());
    expect(result.outcome).to.equal('pass');
    expect(result.detail).to.match(/127\.0\.0\.1:\d+ is free/);
  });

  it('fails on Azure IMDS: this is an Azure VM', async () => {
    const result = await check(await serve(azureImds));
    expect(result.outcome).to.equal('fail');
    expect(result.detail).to.contain('this is an Azure VM');
    expect(result.fix).to.contain('VM extension');
  });

  it('fails on AWS EC2 IMDS and explains the shadowing and --force', async () => {
    const result = await check(await serve(awsImds));
    expect(result.outcome).to.equal('fail');
    expect(result.detail).to.contain('AWS EC2 IMDS');
    expect(result.detail).to.contain('shadow');
    expect(result.fix).to.contain('--force');
  });

  it('only warns on AWS EC2 IMDS with --force, saying the address is given back', async () => {
    const result = await check(await serve(awsImds), true);
    expect(result.outcome).to.equal('warn');
    expect(result.detail).to.contain('gives it back');
  });

  it('warns on a stale himdsproxy, which join cleans up', async () => {
    const result = await check(await serve(staleProxy));
    expect(result.outcome).to.equal('warn');
    expect(result.detail).to.contain('himdsproxy already answers');
  });

  it('fails on another server, naming what it found', async () => {
    const result = await check(await serve(someWebServer));
    expect(result.outcome).to.equal('fail');
    expect(result.detail).to.contain('Microsoft-IIS/10.0');
    expect(result.fix).to.contain('Get-NetTCPConnection');
  });

  it('fails on Windows HTTP.sys holding port 80 on every address, and says how to narrow it', async () => {
    const result = await check(await serve(httpSys));
    expect(result.outcome).to.equal('fail');
    expect(result.detail).to.contain('Microsoft-HTTPAPI/2.0');
    expect(result.fix).to.contain('netsh http add iplisten');
    expect(result.fix).to.not.contain('Get-NetTCPConnection');
  });

  it('does not probe at all for port 0', async () => {
    let probed = false;
    const result = await metadataAddressCheck.run(fakeContext({ listen: { host: '127.0.0.1', port: 0 }, probeMetadataAddress: async () => { probed = true; return { kind: 'free' }; } }));
    expect(result.outcome).to.equal('pass');
    expect(probed).to.equal(false);
  });
});
