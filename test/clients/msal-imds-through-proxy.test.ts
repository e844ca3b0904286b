// Proof with a real client: @azure/msal-node in its IMDS mode gets the agent's token through the proxy.
import { expect } from 'chai';
import { readdir } from 'node:fs/promises';
import { ENTRA_DEVICE_REGISTRATION_RESOURCE } from '../../core/contract.js';
import { startProxiedEmulator, MODERN_ONLY_API_VERSIONS, type ProxiedEmulator } from './proxy-fixture.js';
import { acquireTokenWithMsal, sha256 } from './run-msal.js';

describe('msal-node in IMDS mode through the proxy', function () {
  let running: ProxiedEmulator | undefined;

  before(async () => {
    running = await startProxiedEmulator();
  });

  after(async () => {
    await running?.dispose();
  });

  it('acquires the emulator token for the device registration resource', async () => {
    const { emulator, proxy } = running!;
    const outcome = await acquireTokenWithMsal(ENTRA_DEVICE_REGISTRATION_RESOURCE, {
      AZURE_POD_IDENTITY_AUTHORITY_HOST: proxy.url,
    });
    expect(outcome.ok, outcome.ok ? '' : `${outcome.errorCode}: ${outcome.message}`).to.equal(true);
    if (!outcome.ok) return;
    expect(outcome.source).to.equal('DefaultToImds');
    expect(outcome.tokenType).to.equal('Bearer');
    expect(emulator.issuedAccessTokens.map(sha256)).to.deep.equal([outcome.accessTokenSha256]);

    const tokenRequests = emulator.requests.filter((request) => request.path === '/metadata/identity/oauth2/token');
    // At most one 400: the proxy may learn the agent's versions from its "Supported are …" answer once.
    const learningRequests = tokenRequests.filter((request) => request.status === 400);
    expect(learningRequests.length).to.be.at.most(1);
    const challengeRound = tokenRequests.filter((request) => request.status !== 400);
    expect(challengeRound.map((request) => [request.hadAuthorization, request.status])).to.deep.equal([
      [false, 401],
      [true, 200],
    ]);
    for (const request of challengeRound) {
      // msal-node sends 2018-02-01, which this agent refuses: the proxy must have mapped it.
      expect(MODERN_ONLY_API_VERSIONS).to.include(request.query['api-version']);
      expect(request.query.resource).to.equal(ENTRA_DEVICE_REGISTRATION_RESOURCE);
    }
    expect(await readdir(emulator.tokenDirectory)).to.deep.equal([]);
  });

  it('keeps the token and the key-file secret out of the access log', async () => {
    const { emulator, readAccessLog } = running!;
    const log = await readAccessLog();
    expect(log.length).to.be.greaterThan(0);
    expect(emulator.issuedAccessTokens.length).to.be.greaterThan(0);
    for (const token of emulator.issuedAccessTokens) {
      expect(log.includes(token)).to.equal(false);
      expect(log.includes(token.split('.')[2] ?? token)).to.equal(false);
    }
    expect(emulator.issuedSecrets.length).to.be.greaterThan(0);
    for (const secret of emulator.issuedSecrets) expect(log.includes(secret)).to.equal(false);
    expect(/authorization|basic /i.test(log)).to.equal(false);
  });
});
