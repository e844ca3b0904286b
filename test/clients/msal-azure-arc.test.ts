// Proof that the emulator speaks real HIMDS: @azure/msal-node in Azure Arc mode gets a token straight from it.
import { expect } from 'chai';
import { readdir, stat } from 'node:fs/promises';
import { HimdsEmulator } from '../support/himds-emulator.js';
import { acquireTokenWithMsal, sha256 } from './run-msal.js';

/** msal-node accepts challenge files only here on Linux (AzureArc.ts SUPPORTED_AZURE_ARC_PLATFORMS). */
const MSAL_LINUX_TOKEN_DIRECTORY = '/var/opt/azcmagent/tokens';
const DRS_RESOURCE = 'urn:ms-drs:enterpriseregistration.windows.net';

describe('msal-node in Azure Arc mode against the HIMDS emulator', function () {
  let emulator: HimdsEmulator | undefined;
  let directoryExistedBefore = false;

  before(async function () {
    if (process.platform !== 'linux' || process.getuid?.() !== 0) {
      console.log(
        `      skipped: msal-node reads Arc key files only from ${MSAL_LINUX_TOKEN_DIRECTORY}, which needs root on Linux ` +
          `(platform ${process.platform}, uid ${process.getuid?.() ?? 'n/a'})`,
      );
      this.skip();
    }
    directoryExistedBefore = await stat(MSAL_LINUX_TOKEN_DIRECTORY).then(() => true, () => false);
    emulator = await HimdsEmulator.start({ tokenDirectory: MSAL_LINUX_TOKEN_DIRECTORY });
  });

  after(async () => {
    // stop() removes only the key files it wrote and the directories it created, if empty.
    await emulator?.stop();
  });

  function arcEnvironment(running: HimdsEmulator): Record<string, string> {
    return {
      IDENTITY_ENDPOINT: `${running.url}/metadata/identity/oauth2/token`,
      IMDS_ENDPOINT: running.url,
    };
  }

  it('acquires the emulator token for the device registration resource', async () => {
    const running = emulator!;
    const outcome = await acquireTokenWithMsal(DRS_RESOURCE, arcEnvironment(running));
    expect(outcome.ok, outcome.ok ? '' : `${outcome.errorCode}: ${outcome.message}`).to.equal(true);
    if (!outcome.ok) return;
    expect(outcome.source).to.equal('AzureArc');
    expect(outcome.tokenType).to.equal('Bearer');
    expect(running.issuedAccessTokens.map(sha256)).to.deep.equal([outcome.accessTokenSha256]);
    const tokenRequests = running.requests.filter((request) => request.path === '/metadata/identity/oauth2/token');
    expect(tokenRequests.map((request) => [request.hadAuthorization, request.status])).to.deep.equal([
      [false, 401],
      [true, 200],
    ]);
    expect(tokenRequests[0]?.query['api-version']).to.equal('2020-06-01');
    expect(tokenRequests[0]?.query.resource).to.equal(DRS_RESOURCE);
    const leftovers = await readdir(MSAL_LINUX_TOKEN_DIRECTORY);
    expect(leftovers).to.deep.equal([]);
  });

  it('is refused by msal-node when the realm leaves the token directory (the emulator fault is real)', async () => {
    const running = emulator!;
    running.faults.realmOutsideDirectory = true;
    try {
      const outcome = await acquireTokenWithMsal(DRS_RESOURCE, arcEnvironment(running));
      expect(outcome.ok).to.equal(false);
      if (outcome.ok) return;
      expect(outcome.errorCode).to.equal('invalid_file_path');
    } finally {
      running.faults.realmOutsideDirectory = false;
    }
  });

  it('is refused by msal-node for an oversize key file', async () => {
    const running = emulator!;
    running.faults.oversizeKey = true;
    try {
      const outcome = await acquireTokenWithMsal(DRS_RESOURCE, arcEnvironment(running));
      expect(outcome.ok).to.equal(false);
      if (outcome.ok) return;
      expect(outcome.errorCode).to.equal('invalid_secret');
    } finally {
      running.faults.oversizeKey = false;
    }
  });

  it('leaves no key file behind after the refused attempts once stopped', async () => {
    const running = emulator!;
    expect(running.outstandingChallenges).to.be.at.least(1);
    await running.stop();
    emulator = undefined;
    const remaining = await readdir(MSAL_LINUX_TOKEN_DIRECTORY).catch(() => [] as string[]);
    expect(remaining).to.deep.equal([]);
    if (!directoryExistedBefore) {
      expect(await stat(MSAL_LINUX_TOKEN_DIRECTORY).then(() => true, () => false)).to.equal(false);
    }
  });
});
