// The emulator's token endpoint: the key-file challenge round trip, single use, and every fault switch.
import { expect } from 'chai';
import { lstat, readFile, readdir, readlink, stat } from 'node:fs/promises';
import { basename, dirname, resolve, sep } from 'node:path';
import { decodeJwtPayload } from '../support/jwt.js';
import { get, realmOf, startEmulatorInTempDir, TOKEN_PATH, type EmulatorFixture, type SimpleResponse } from './helpers.js';

/** Reads the challenge file and answers it, as an official client would (minus the checks). */
async function answerChallenge(baseUrl: string, challenge: SimpleResponse, path = TOKEN_PATH): Promise<SimpleResponse> {
  const secret = await readFile(realmOf(challenge), 'utf8');
  return get(baseUrl, path, { Metadata: 'true', Authorization: `Basic ${secret}` });
}

function isInside(directory: string, file: string): boolean {
  return dirname(resolve(file)) === resolve(directory);
}

describe('HIMDS emulator: token challenge', () => {
  let fixture: EmulatorFixture;
  beforeEach(async () => {
    fixture = await startEmulatorInTempDir({ tenantId: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee' });
  });
  afterEach(async () => {
    await fixture.dispose();
  });

  it('challenges with an unquoted absolute .key realm in tokenDirectory, mode 0600', async () => {
    const challenge = await get(fixture.emulator.url, TOKEN_PATH);
    expect(challenge.status).to.equal(401);
    const realm = realmOf(challenge);
    expect(realm.startsWith('"')).to.equal(false);
    expect(realm.startsWith(sep)).to.equal(true);
    expect(realm.endsWith('.key')).to.equal(true);
    expect(isInside(fixture.emulator.tokenDirectory, realm)).to.equal(true);
    const info = await stat(realm);
    expect(info.mode & 0o777).to.equal(0o600);
    expect(info.size).to.be.greaterThan(0).and.at.most(4096);
  });

  it('issues a JWT-shaped token for the exact file contents and deletes the key file', async () => {
    const challenge = await get(fixture.emulator.url, TOKEN_PATH);
    const answered = await answerChallenge(fixture.emulator.url, challenge);
    expect(answered.status).to.equal(200);
    const body = JSON.parse(answered.text);
    expect(Object.keys(body)).to.have.members([
      'access_token', 'expires_in', 'expires_on', 'ext_expires_in', 'not_before', 'resource', 'token_type',
    ]);
    for (const field of Object.keys(body)) expect(typeof body[field], field).to.equal('string');
    expect(body.token_type).to.equal('Bearer');
    expect(body.resource).to.equal('https://management.azure.com');
    expect(Number(body.expires_on)).to.be.greaterThan(Date.now() / 1000 + 3600);
    const claims = decodeJwtPayload(body.access_token);
    expect(claims.tid).to.equal('aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee');
    expect(claims.aud).to.equal('https://management.azure.com');
    expect(claims.exp).to.equal(Number(body.expires_on));
    expect(fixture.emulator.issuedAccessTokens.length).to.equal(1);
    expect(fixture.emulator.issuedAccessTokens[0] === body.access_token).to.equal(true);
    expect(await readdir(fixture.emulator.tokenDirectory)).to.deep.equal([]);
    expect(fixture.emulator.outstandingChallenges).to.equal(0);
  });

  it('accepts a secret once: a second use gets a fresh challenge', async () => {
    const challenge = await get(fixture.emulator.url, TOKEN_PATH);
    const secret = await readFile(realmOf(challenge), 'utf8');
    const headers = { Metadata: 'true', Authorization: `Basic ${secret}` };
    expect((await get(fixture.emulator.url, TOKEN_PATH, headers)).status).to.equal(200);
    const reused = await get(fixture.emulator.url, TOKEN_PATH, headers);
    expect(reused.status).to.equal(401);
    expect(realmOf(reused)).to.not.equal(realmOf(challenge));
    expect(fixture.emulator.issuedAccessTokens.length).to.equal(1);
  });

  it('never reuses a secret across challenges', async () => {
    const first = await readFile(realmOf(await get(fixture.emulator.url, TOKEN_PATH)), 'utf8');
    const second = await readFile(realmOf(await get(fixture.emulator.url, TOKEN_PATH)), 'utf8');
    expect(first === second).to.equal(false);
    expect(fixture.emulator.issuedSecrets.length).to.equal(2);
    expect(fixture.emulator.issuedSecrets[0] === first && fixture.emulator.issuedSecrets[1] === second).to.equal(true);
    expect(fixture.emulator.outstandingChallenges).to.equal(2);
  });

  for (const [label, authorization] of [
    ['an unknown secret', 'Basic 0000'],
    ['an empty secret', 'Basic '],
    ['a Bearer scheme', 'Bearer abc'],
  ] as const) {
    it(`rejects ${label} with a fresh challenge`, async () => {
      const response = await get(fixture.emulator.url, TOKEN_PATH, { Metadata: 'true', Authorization: authorization });
      expect(response.status).to.equal(401);
      expect(realmOf(response).endsWith('.key')).to.equal(true);
    });
  }

  it('rejects a token request without resource before challenging', async () => {
    const response = await get(fixture.emulator.url, '/metadata/identity/oauth2/token?api-version=2020-06-01');
    expect(response.status).to.equal(400);
    expect(JSON.parse(response.text).error).to.equal('invalid_request');
    expect(await readdir(fixture.emulator.tokenDirectory)).to.deep.equal([]);
  });

  it('ignores client_id like a legacy agent and returns the system identity (documented choice)', async () => {
    const path = `${TOKEN_PATH}&client_id=00000000-0000-0000-0000-000000000001`;
    const answered = await answerChallenge(fixture.emulator.url, await get(fixture.emulator.url, path), path);
    expect(answered.status).to.equal(200);
    expect(JSON.parse(answered.text)).to.not.have.property('client_id');
  });

  it('records whether Authorization came, never the secret', async () => {
    const challenge = await get(fixture.emulator.url, TOKEN_PATH);
    const secret = await readFile(realmOf(challenge), 'utf8');
    await get(fixture.emulator.url, TOKEN_PATH, { Metadata: 'true', Authorization: `Basic ${secret}` });
    expect(fixture.emulator.requests.map((request) => [request.hadAuthorization, request.status])).to.deep.equal([
      [false, 401],
      [true, 200],
    ]);
    expect(JSON.stringify(fixture.emulator.requests).includes(secret)).to.equal(false);
  });

  it('removes unused key files and the directories it created when stopped', async () => {
    const own = await startEmulatorInTempDir();
    const tokenDirectory = own.emulator.tokenDirectory;
    await get(own.emulator.url, TOKEN_PATH);
    expect((await readdir(tokenDirectory)).length).to.equal(1);
    await own.emulator.stop();
    expect(await readdir(own.scratchDirectory)).to.deep.equal([]);
    await own.dispose();
  });

  describe('faults', () => {
    it('slow: the request waits unanswered, then is answered', async () => {
      fixture.emulator.faults.slow = 400;
      const pending = get(fixture.emulator.url, '/metadata/instance?api-version=2021-02-01');
      while (fixture.emulator.requests.length === 0) await new Promise((done) => setTimeout(done, 5));
      expect(fixture.emulator.requests[0]?.status).to.equal(null);
      expect((await pending).status).to.equal(200);
      expect(fixture.emulator.requests[0]?.status).to.equal(200);
    });

    it('status500: every answer is 500 JSON and no key file is written', async () => {
      fixture.emulator.faults.status500 = true;
      for (const path of [TOKEN_PATH, '/metadata/instance?api-version=2021-02-01', '/nothing']) {
        const response = await get(fixture.emulator.url, path);
        expect(response.status).to.equal(500);
        expect(JSON.parse(response.text).error).to.equal('server_error');
      }
      expect(await readdir(fixture.emulator.tokenDirectory)).to.deep.equal([]);
    });

    it('malformedJson: 200 answers carry unparseable JSON, challenges stay intact', async () => {
      fixture.emulator.faults.malformedJson = true;
      const instance = await get(fixture.emulator.url, '/metadata/instance?api-version=2021-02-01');
      expect(instance.status).to.equal(200);
      expect(() => JSON.parse(instance.text)).to.throw(SyntaxError);
      const challenge = await get(fixture.emulator.url, TOKEN_PATH);
      expect(challenge.status).to.equal(401);
      const token = await answerChallenge(fixture.emulator.url, challenge);
      expect(token.status).to.equal(200);
      expect(() => JSON.parse(token.text)).to.throw(SyntaxError);
    });

    it('dropConnection: the socket closes without an answer', async () => {
      fixture.emulator.faults.dropConnection = true;
      let failure: unknown;
      await get(fixture.emulator.url, '/metadata/instance?api-version=2021-02-01').catch((error: unknown) => (failure = error));
      expect(failure).to.be.instanceOf(TypeError);
      expect(fixture.emulator.requests[0]?.status).to.equal(null);
    });

    it('notJsonContentType: JSON labelled text/plain', async () => {
      fixture.emulator.faults.notJsonContentType = true;
      const response = await get(fixture.emulator.url, '/metadata/instance?api-version=2021-02-01');
      expect(response.headers.get('content-type')).to.match(/^text\/plain/);
      expect(JSON.parse(response.text)).to.have.property('compute');
    });

    it('tokenNumbersAsNumbers: expiry fields are JSON numbers', async () => {
      fixture.emulator.faults.tokenNumbersAsNumbers = true;
      const body = JSON.parse((await answerChallenge(fixture.emulator.url, await get(fixture.emulator.url, TOKEN_PATH))).text);
      for (const field of ['expires_in', 'expires_on', 'ext_expires_in', 'not_before']) {
        expect(typeof body[field], field).to.equal('number');
      }
    });

    it('realmOutsideDirectory: an existing .key file elsewhere that a careless client could use', async () => {
      fixture.emulator.faults.realmOutsideDirectory = true;
      const challenge = await get(fixture.emulator.url, TOKEN_PATH);
      const realm = realmOf(challenge);
      expect(realm.endsWith('.key')).to.equal(true);
      expect(isInside(fixture.emulator.tokenDirectory, realm)).to.equal(false);
      expect((await stat(realm)).isFile()).to.equal(true);
      expect((await answerChallenge(fixture.emulator.url, challenge)).status).to.equal(200);
    });

    it('realmTraversal: the realm starts with tokenDirectory but resolves outside it', async () => {
      fixture.emulator.faults.realmTraversal = true;
      const challenge = await get(fixture.emulator.url, TOKEN_PATH);
      const realm = realmOf(challenge);
      expect(realm.startsWith(fixture.emulator.tokenDirectory + sep)).to.equal(true);
      expect(realm.includes(`${sep}..${sep}`)).to.equal(true);
      expect(isInside(fixture.emulator.tokenDirectory, realm)).to.equal(false);
      expect((await stat(realm)).isFile()).to.equal(true);
    });

    it('nonKeyFile: the file in tokenDirectory does not end in .key', async () => {
      fixture.emulator.faults.nonKeyFile = true;
      const realm = realmOf(await get(fixture.emulator.url, TOKEN_PATH));
      expect(realm.endsWith('.key')).to.equal(false);
      expect(basename(realm)).to.match(/\.key\.txt$/);
      expect(isInside(fixture.emulator.tokenDirectory, realm)).to.equal(true);
    });

    it('oversizeKey: the .key file is larger than 4096 bytes', async () => {
      fixture.emulator.faults.oversizeKey = true;
      const realm = realmOf(await get(fixture.emulator.url, TOKEN_PATH));
      expect((await stat(realm)).size).to.be.greaterThan(4096);
    });

    it('symlinkKey: the .key in tokenDirectory is a symlink to a file elsewhere', async () => {
      fixture.emulator.faults.symlinkKey = true;
      const realm = realmOf(await get(fixture.emulator.url, TOKEN_PATH));
      expect(isInside(fixture.emulator.tokenDirectory, realm)).to.equal(true);
      expect((await lstat(realm)).isSymbolicLink()).to.equal(true);
      expect(isInside(fixture.emulator.tokenDirectory, await readlink(realm))).to.equal(false);
    });

    it('wrongSecret: the right secret gets another 401', async () => {
      fixture.emulator.faults.wrongSecret = true;
      const answered = await answerChallenge(fixture.emulator.url, await get(fixture.emulator.url, TOKEN_PATH));
      expect(answered.status).to.equal(401);
      expect(fixture.emulator.issuedAccessTokens).to.deep.equal([]);
    });

    it('missingRealm: 401 with "Basic" and no realm', async () => {
      fixture.emulator.faults.missingRealm = true;
      const response = await get(fixture.emulator.url, TOKEN_PATH);
      expect(response.status).to.equal(401);
      expect(response.headers.get('www-authenticate')).to.equal('Basic');
    });

    it('noChallengeHeader: 401 without WWW-Authenticate', async () => {
      fixture.emulator.faults.noChallengeHeader = true;
      const response = await get(fixture.emulator.url, TOKEN_PATH);
      expect(response.status).to.equal(401);
      expect(response.headers.has('www-authenticate')).to.equal(false);
    });

    it('cleans up the files hostile faults wrote, inside and outside tokenDirectory', async () => {
      const own = await startEmulatorInTempDir();
      own.emulator.faults.symlinkKey = true;
      const realm = realmOf(await get(own.emulator.url, TOKEN_PATH));
      const target = await readlink(realm);
      await own.dispose();
      let targetGone = false;
      await stat(target).catch(() => (targetGone = true));
      expect(targetGone).to.equal(true);
    });
  });

  describe('suspend and resume', () => {
    it('refuses connections while suspended and serves again on the same URL', async () => {
      const url = fixture.emulator.url;
      await fixture.emulator.suspend();
      let failure: unknown;
      await get(url, '/metadata/instance?api-version=2021-02-01').catch((error: unknown) => (failure = error));
      expect((failure as { cause?: { code?: string } } | undefined)?.cause?.code).to.equal('ECONNREFUSED');
      await fixture.emulator.resume();
      expect(fixture.emulator.url).to.equal(url);
      expect((await get(url, '/metadata/instance?api-version=2021-02-01')).status).to.equal(200);
    });

    it('cuts requests in flight when suspended', async () => {
      fixture.emulator.faults.slow = 10_000;
      const inFlight = get(fixture.emulator.url, '/metadata/instance?api-version=2021-02-01').catch((error: unknown) => error);
      while (fixture.emulator.requests.length === 0) await new Promise((done) => setTimeout(done, 5));
      await fixture.emulator.suspend();
      expect(await inFlight).to.be.instanceOf(TypeError);
      expect(fixture.emulator.requests[0]?.status).to.equal(null);
    });
  });
});
