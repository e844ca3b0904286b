// The proxy on a real socket against the HIMDS emulator: challenge, faults, api-version mapping, fallbacks, access log.
import { expect } from 'chai';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENTRA_DEVICE_REGISTRATION_RESOURCE } from '../../core/contract.js';
import { startProxyServer, type RunningProxy } from '../../core/server.js';
import { HimdsEmulator, noFaults } from '../support/himds-emulator.js';

const ARC_ONLY_NEWER_VERSIONS = ['2021-02-01', '2020-06-01', '2019-11-01'];
const UPSTREAM_TIMEOUT_MS = 1_000;
const TOKEN_PATH = `/metadata/identity/oauth2/token?api-version=2021-02-01&resource=${encodeURIComponent(ENTRA_DEVICE_REGISTRATION_RESOURCE)}`;

interface Rig {
  directory: string;
  emulator: HimdsEmulator;
  proxy: RunningProxy;
  accessLogFile: string;
}

async function startRig(emulatorOptions: { serveIdentityInfo?: boolean; serveInstanceSubpaths?: boolean } = {}): Promise<Rig> {
  const directory = await mkdtemp(join(tmpdir(), 'himdsproxy-core-'));
  const tokenDirectory = join(directory, 'tokens');
  const emulator = await HimdsEmulator.start({ tokenDirectory, supportedApiVersions: ARC_ONLY_NEWER_VERSIONS, ...emulatorOptions });
  const accessLogFile = join(directory, 'logs', 'proxy.log');
  const proxy = await startProxyServer({
    listen: '127.0.0.1:0',
    himdsUrl: emulator.url,
    tokenDirectory,
    allowedResources: [],
    upstreamTimeoutMs: UPSTREAM_TIMEOUT_MS,
    accessLogFile,
  });
  return { directory, emulator, proxy, accessLogFile };
}

async function stopRig(rig: Rig | undefined): Promise<void> {
  if (!rig) return;
  await rig.proxy.close();
  await rig.emulator.stop();
  await rm(rig.directory, { recursive: true, force: true });
}

async function get(rig: Rig, target: string, headers: Record<string, string> = { Metadata: 'true' }) {
  const response = await fetch(`${rig.proxy.url}${target}`, { headers });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

async function accessLogLines(rig: Rig): Promise<Record<string, unknown>[]> {
  const text = await readFile(rig.accessLogFile, 'utf8');
  return text.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Everything the proxy wrote or answered must be free of every token the emulator issued. */
async function expectNoTokensIn(rig: Rig, ...texts: string[]): Promise<void> {
  const logText = await readFile(rig.accessLogFile, 'utf8');
  expect(rig.emulator.issuedAccessTokens.length).to.be.greaterThan(0);
  for (const token of rig.emulator.issuedAccessTokens) {
    expect(logText.includes(token)).to.equal(false);
    for (const text of texts) expect(text.includes(token)).to.equal(false);
  }
  expect(/authorization|basic (?!realm)/i.test(logText)).to.equal(false);
}

describe('core proxy against the HIMDS emulator (sockets)', function () {
  let rig: Rig | undefined;
  afterEach(async () => {
    await stopRig(rig);
    rig = undefined;
  });

  function started(): Rig {
    if (!rig) throw new Error('rig not started');
    return rig;
  }

  describe('tokens', () => {
    beforeEach(async () => {
      rig = await startRig();
    });

    it('answers the challenge and returns the emulator\'s token with string fields', async () => {
      const r = started();
      const answer = await get(r, TOKEN_PATH);
      expect(answer.status).to.equal(200);
      expect(answer.headers.get('server')).to.equal('himdsproxy');
      const body = answer.json();
      expect(body.access_token === r.emulator.issuedAccessTokens.at(-1)).to.equal(true);
      for (const [field, value] of Object.entries(body)) expect(typeof value, field).to.equal('string');
      expect(body.resource).to.equal(ENTRA_DEVICE_REGISTRATION_RESOURCE);
      const tokenRequests = r.emulator.requests.filter((request) => request.path === '/metadata/identity/oauth2/token');
      expect(tokenRequests.map((request) => [request.hadAuthorization, request.status])).to.deep.equal([[false, 401], [true, 200]]);
      expect(r.emulator.outstandingChallenges).to.equal(0);
      const [line] = await accessLogLines(r);
      expect(line).to.include({ method: 'GET', path: '/metadata/identity/oauth2/token', resource: ENTRA_DEVICE_REGISTRATION_RESOURCE, status: 200, upstreamStatus: 200, peer: '127.0.0.1' });
      expect(line!.durationMs).to.be.a('number');
      await expectNoTokensIn(r);
    });

    it('takes a fresh challenge for every request (a key is never reused)', async () => {
      const r = started();
      for (let attempt = 0; attempt < 3; attempt++) expect((await get(r, TOKEN_PATH)).status).to.equal(200);
      const challenges = r.emulator.requests.filter((request) => !request.hadAuthorization && request.status === 401);
      const answered = r.emulator.requests.filter((request) => request.hadAuthorization);
      expect(challenges).to.have.length(3);
      expect(answered.map((request) => request.status)).to.deep.equal([200, 200, 200]);
      expect(new Set(r.emulator.issuedAccessTokens).size).to.equal(3);
    });

    it('turns numeric token fields into strings', async () => {
      const r = started();
      r.emulator.faults.tokenNumbersAsNumbers = true;
      const body = (await get(r, TOKEN_PATH)).json();
      for (const field of ['expires_in', 'expires_on', 'not_before']) expect(typeof body[field], field).to.equal('string');
    });

    const challengeFaults: { fault: keyof ReturnType<typeof noFaults>; detail: RegExp; answered: boolean }[] = [
      { fault: 'realmOutsideDirectory', detail: /outside the token directory/, answered: false },
      { fault: 'realmTraversal', detail: /outside the token directory/, answered: false },
      { fault: 'nonKeyFile', detail: /does not name a \.key file/, answered: false },
      { fault: 'oversizeKey', detail: /larger than 4096 bytes/, answered: false },
      { fault: 'symlinkKey', detail: /not a regular file/, answered: false },
      { fault: 'missingRealm', detail: /without a usable "WWW-Authenticate/, answered: false },
      { fault: 'noChallengeHeader', detail: /without a usable "WWW-Authenticate/, answered: false },
      { fault: 'wrongSecret', detail: /second 401/, answered: true },
    ];
    for (const { fault, detail, answered } of challengeFaults) {
      it(`${fault} → 502 naming the problem, no secret sent or shown`, async () => {
        const r = started();
        (r.emulator.faults as unknown as Record<string, unknown>)[fault] = true;
        const answer = await get(r, TOKEN_PATH);
        expect(answer.status).to.equal(502);
        const body = answer.json();
        expect(body.error).to.equal('server_error');
        expect(body.error_description).to.match(detail);
        const tokenRequests = r.emulator.requests.filter((request) => request.path === '/metadata/identity/oauth2/token');
        // One challenge and, at most, one answer: never a loop.
        expect(tokenRequests.map((request) => request.hadAuthorization)).to.deep.equal(answered ? [false, true] : [false]);
        const [line] = await accessLogLines(r);
        expect(line).to.include({ status: 502, upstreamStatus: 401 });
        expect(String(line!.reason)).to.match(detail);
        const logText = await readFile(r.accessLogFile, 'utf8');
        // "Basic realm=" may be quoted in a message; "Basic <anything else>" would be a credential.
        expect(/basic (?!realm)/i.test(logText) || /basic (?!realm)/i.test(answer.text)).to.equal(false);
        // The proxy keeps serving once the agent behaves again.
        r.emulator.faults = noFaults();
        expect((await get(r, TOKEN_PATH)).status).to.equal(200);
      });
    }

    it('passes an agent error on in token shape with its status', async () => {
      const r = started();
      r.emulator.faults.status500 = true;
      const answer = await get(r, TOKEN_PATH);
      expect(answer.status).to.equal(500);
      const body = answer.json();
      expect(body.error).to.be.a('string');
      expect(body.error_description).to.be.a('string');
    });
  });

  describe('upstream trouble', () => {
    beforeEach(async () => {
      rig = await startRig();
    });

    it('agent down → 503 with Retry-After and a message about the agent, quickly; serves again once it is back', async () => {
      const r = started();
      await r.emulator.suspend();
      for (const target of ['/metadata/instance?api-version=2021-02-01', TOKEN_PATH]) {
        const answer = await get(r, target);
        expect(answer.status, target).to.equal(503);
        expect(answer.headers.get('retry-after')).to.equal('5');
        expect(answer.text).to.include('Azure Connected Machine agent (himds service) is not running');
      }
      await r.emulator.resume();
      expect((await get(r, '/metadata/instance?api-version=2021-02-01')).status).to.equal(200);
    });

    it('agent slower than --upstream-timeout → 504, then serves again', async () => {
      const r = started();
      r.emulator.faults.slow = UPSTREAM_TIMEOUT_MS * 5;
      const answer = await get(r, '/metadata/instance?api-version=2021-02-01');
      expect(answer.status).to.equal(504);
      expect(answer.json().error).to.match(/^Gateway timeout\. HIMDS at .* did not answer within 1000 ms/);
      r.emulator.faults.slow = 0;
      expect((await get(r, '/metadata/instance?api-version=2021-02-01')).status).to.equal(200);
    });

    it('malformed JSON → 502 on instance metadata and tokens', async () => {
      const r = started();
      r.emulator.faults.malformedJson = true;
      expect((await get(r, '/metadata/instance?api-version=2021-02-01')).status).to.equal(502);
      const token = await get(r, TOKEN_PATH);
      expect(token.status).to.equal(502);
      expect(token.json().error).to.equal('server_error');
    });

    it('a dropped connection → 502, and the proxy keeps serving', async () => {
      const r = started();
      r.emulator.faults.dropConnection = true;
      const answer = await get(r, '/metadata/instance?api-version=2021-02-01');
      expect(answer.status).to.equal(502);
      expect(answer.json().error).to.match(/^Bad gateway\. HIMDS .* sent no valid HTTP answer/);
      r.emulator.faults.dropConnection = false;
      expect((await get(r, '/metadata/instance?api-version=2021-02-01')).status).to.equal(200);
    });

    it('agent 500 on instance metadata is passed on with its status', async () => {
      const r = started();
      r.emulator.faults.status500 = true;
      const answer = await get(r, '/metadata/instance?api-version=2021-02-01');
      expect(answer.status).to.equal(500);
      expect(answer.json().error).to.be.a('string');
    });
  });

  describe('AADLoginForWindows calls against an agent accepting only 2019-11-01 and later', () => {
    beforeEach(async () => {
      rig = await startRig({ serveIdentityInfo: false, serveInstanceSubpaths: false });
    });

    it('maps 2017-08-01, 2017-12-01 and 2018-02-01, logs the mapping, and answers IMDS-shaped', async () => {
      const r = started();
      const instance = await get(r, '/metadata/instance?api-version=2017-08-01');
      expect(instance.status).to.equal(200);
      const compute = instance.json().compute as Record<string, unknown>;
      expect(compute.vmId).to.equal(r.emulator.machine.vmId);
      expect(compute.resourceId).to.match(/Microsoft\.HybridCompute\/machines\//);

      const computeOnly = await get(r, '/metadata/instance/compute?api-version=2017-12-01');
      expect(computeOnly.status).to.equal(200);
      expect(computeOnly.json().subscriptionId).to.equal(r.emulator.machine.subscriptionId);

      const info = await get(r, '/metadata/identity/info?api-version=2018-02-01');
      expect(info.status).to.equal(200);
      expect(info.json()).to.deep.equal({ tenantId: r.emulator.machine.tenantId });

      const token = await get(r, `/metadata/identity/oauth2/token?resource=${ENTRA_DEVICE_REGISTRATION_RESOURCE}&api-version=2018-02-01`);
      expect(token.status).to.equal(200);
      expect(token.json().access_token === r.emulator.issuedAccessTokens.at(-1)).to.equal(true);

      const sentVersions = new Set(r.emulator.requests.filter((request) => request.status !== 400).map((request) => request.query['api-version']));
      for (const version of sentVersions) expect(ARC_ONLY_NEWER_VERSIONS).to.include(version);
      // The list is learned once: only the very first request was refused.
      expect(r.emulator.requests.filter((request) => request.status === 400)).to.have.length(1);

      const lines = await accessLogLines(r);
      expect(lines.map((line) => line.status)).to.deep.equal([200, 200, 200, 200]);
      expect(lines.map((line) => line.apiVersionMapping)).to.deep.equal([
        { requested: '2017-08-01', used: '2019-11-01' },
        { requested: '2017-12-01', used: '2019-11-01' },
        { requested: '2018-02-01', used: '2019-11-01' },
        { requested: '2018-02-01', used: '2019-11-01' },
      ]);
      await expectNoTokensIn(r, info.text, instance.text);
    });

    it('serves leaf paths with format=text, refuses them without, lists children as text, 404s unknown keys', async () => {
      const r = started();
      const leaf = await get(r, '/metadata/instance/compute/vmId?api-version=2021-02-01&format=text');
      expect(leaf.status).to.equal(200);
      expect(leaf.headers.get('content-type')).to.match(/^text\/plain/);
      expect(leaf.text).to.equal(r.emulator.machine.vmId);

      const noFormat = await get(r, '/metadata/instance/compute/vmId?api-version=2021-02-01');
      expect(noFormat.status).to.equal(400);
      expect(noFormat.json().error).to.match(/format=text/);

      const listing = await get(r, '/metadata/instance/compute/osProfile?api-version=2021-02-01&format=text');
      expect(listing.text).to.equal('computerName');

      const nested = await get(r, '/metadata/instance/compute/osProfile/computerName?api-version=2021-02-01&format=text');
      expect(nested.text).to.equal(r.emulator.machine.machineName.toUpperCase());

      expect((await get(r, '/metadata/instance/compute/noSuchKey?api-version=2021-02-01')).status).to.equal(404);
      expect((await get(r, '/metadata/instance/compute/vmid?api-version=2021-02-01&format=text')).status).to.equal(404);
      expect((await get(r, '/metadata/instance/compute?api-version=2021-02-01&format=xml')).status).to.equal(400);
    });
  });

  describe('requests refused on the wire', () => {
    beforeEach(async () => {
      rig = await startRig();
    });

    for (const rawPath of ['/metadata/identity\\oauth2\\token?api-version=2021-02-01&resource=x', '/metadata/instance/../identity/oauth2/token?api-version=2021-02-01&resource=x', '/metadata/instance/%2e%2e/identity/oauth2/token?api-version=2021-02-01&resource=x']) {
      it(`${rawPath} → 400 IMDS-shaped, logged, HIMDS untouched`, async () => {
        const r = started();
        const answer = await rawGet(r.proxy.url, rawPath, { Metadata: 'true' });
        expect(answer.status).to.equal(400);
        expect(answer.headers.server).to.equal('himdsproxy');
        expect((JSON.parse(answer.body) as { error: string }).error).to.match(/^Bad request\./);
        expect(r.emulator.requests).to.deep.equal([]);
        const lines = await accessLogLines(r);
        expect(lines).to.have.length(1);
        expect(lines[0]).to.include({ status: 400 });
      });
    }

    it('passes other /metadata/ paths through with HIMDS\'s status and our Server header', async () => {
      const r = started();
      const answer = await get(r, '/metadata/attested/document?api-version=2021-02-01');
      expect(answer.status).to.equal(404);
      expect(answer.headers.get('server')).to.equal('himdsproxy');
      expect(r.emulator.requests.map((request) => request.path)).to.deep.equal(['/metadata/attested/document']);
    });
  });
});

/** A GET whose path is sent byte for byte (fetch would normalise it). */
function rawGet(baseUrl: string, rawPath: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: url.hostname, port: url.port, path: rawPath, method: 'GET', headers, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end();
  });
}
