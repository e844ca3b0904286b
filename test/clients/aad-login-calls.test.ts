// The three calls dsregcmd /AzureSecureVMJoin makes (PROTOCOLS.md §4), with their exact old api-versions,
// through the proxy to an agent that accepts only 2019-11-01 and later.
import { expect } from 'chai';
import { ENTRA_DEVICE_REGISTRATION_RESOURCE } from '../../core/contract.js';
import { decodeJwtPayload } from '../support/jwt.js';
import { startProxiedEmulator, MODERN_ONLY_API_VERSIONS, type ProxiedEmulator } from './proxy-fixture.js';
import type { HimdsEmulatorOptions } from '../support/himds-emulator.js';

const TENANT_ID = '9b0c7e1a-3f5d-4c2b-8a6e-1d2f3a4b5c6d';

/** What dsregcmd sends: Metadata: true and nothing clever. */
async function dsregcmdGet(baseUrl: string, pathAndQuery: string): Promise<{ status: number; contentType: string; text: string }> {
  const response = await fetch(`${baseUrl}${pathAndQuery}`, { headers: { Metadata: 'true' } });
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', text: await response.text() };
}

function nonStringPrimitives(value: unknown, path = ''): string[] {
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, child]) => nonStringPrimitives(child, `${path}/${key}`));
  }
  // null stands where IMDS has a collection (publicKeys); every other primitive must be a string.
  if (value === null && path.endsWith('/publicKeys')) return [];
  return typeof value === 'string' ? [] : [`${path}=${JSON.stringify(value)}`];
}

const AGENT_VARIANTS: [string, Partial<HimdsEmulatorOptions>][] = [
  ['a full agent', {}],
  ['an agent without /metadata/identity/info', { serveIdentityInfo: false }],
  ['an agent serving only /metadata/instance', { serveInstanceSubpaths: false }],
  ['an agent with neither', { serveIdentityInfo: false, serveInstanceSubpaths: false }],
];

for (const [variant, emulatorOptions] of AGENT_VARIANTS) {
  describe(`AADLoginForWindows calls through the proxy, against ${variant}`, function () {
    let running: ProxiedEmulator | undefined;

    before(async () => {
      running = await startProxiedEmulator({ tenantId: TENANT_ID, ...emulatorOptions });
    });

    after(async () => {
      await running?.dispose();
    });

    it('GET /metadata/instance?api-version=2017-08-01 answers the machine, IMDS-shaped', async () => {
      const { proxy, emulator } = running!;
      const response = await dsregcmdGet(proxy.url, '/metadata/instance?api-version=2017-08-01');
      expect(response.status, response.text).to.equal(200);
      expect(response.contentType).to.match(/^application\/json/);
      const body = JSON.parse(response.text);
      expect(body.compute.subscriptionId).to.equal(emulator.machine.subscriptionId);
      expect(body.compute.resourceGroupName).to.equal(emulator.machine.resourceGroupName);
      expect(body.compute.name).to.equal(emulator.machine.machineName);
      expect(nonStringPrimitives(body)).to.deep.equal([]);
    });

    it('GET /metadata/instance/compute?api-version=2017-12-01 answers the compute section', async () => {
      const { proxy, emulator } = running!;
      const response = await dsregcmdGet(proxy.url, '/metadata/instance/compute?api-version=2017-12-01');
      expect(response.status, response.text).to.equal(200);
      const body = JSON.parse(response.text);
      expect(body.vmId).to.equal(emulator.machine.vmId);
      expect(body.resourceId).to.match(/\/providers\/Microsoft\.HybridCompute\/machines\//);
      expect(nonStringPrimitives(body)).to.deep.equal([]);
    });

    it('GET /metadata/identity/info?api-version=2018-02-01 answers the tenant', async () => {
      const { proxy } = running!;
      const response = await dsregcmdGet(proxy.url, '/metadata/identity/info?api-version=2018-02-01');
      expect(response.status, response.text).to.equal(200);
      expect(JSON.parse(response.text)).to.deep.equal({ tenantId: TENANT_ID });
    });

    it('GET the device registration token with api-version 2018-02-01', async () => {
      const { proxy, emulator } = running!;
      const response = await dsregcmdGet(
        proxy.url,
        `/metadata/identity/oauth2/token?resource=${encodeURIComponent(ENTRA_DEVICE_REGISTRATION_RESOURCE)}&api-version=2018-02-01`,
      );
      expect(response.status).to.equal(200);
      const body = JSON.parse(response.text) as Record<string, unknown>;
      for (const field of ['access_token', 'expires_in', 'expires_on', 'not_before', 'resource', 'token_type']) {
        expect(typeof body[field], field).to.equal('string');
      }
      expect(body.resource).to.equal(ENTRA_DEVICE_REGISTRATION_RESOURCE);
      expect(body.token_type).to.equal('Bearer');
      const accessToken = String(body.access_token);
      expect(emulator.issuedAccessTokens.includes(accessToken)).to.equal(true);
      expect(decodeJwtPayload(accessToken).tid).to.equal(TENANT_ID);
    });

    it('sent the agent only versions it accepts', () => {
      const { emulator } = running!;
      const metadataRequests = emulator.requests.filter((request) => request.status === 200);
      expect(metadataRequests.length).to.be.greaterThan(0);
      for (const request of metadataRequests) {
        expect(MODERN_ONLY_API_VERSIONS, `${request.path}?${request.query['api-version']}`).to.include(request.query['api-version']);
      }
    });
  });
}
