// The emulator's guard and its non-token routes: Metadata header, api-version, instance metadata, identity info.
import { expect } from 'chai';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HimdsEmulator } from '../support/himds-emulator.js';
import { get, startEmulatorInTempDir, type EmulatorFixture } from './helpers.js';

const INSTANCE = '/metadata/instance?api-version=2021-02-01';

function primitivesOf(value: unknown, path = ''): [string, unknown][] {
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, child]) => primitivesOf(child, `${path}/${key}`));
  }
  return [[path, value]];
}

describe('HIMDS emulator: guard and metadata routes', () => {
  let fixture: EmulatorFixture;
  beforeEach(async () => {
    fixture = await startEmulatorInTempDir();
  });
  afterEach(async () => {
    await fixture.dispose();
  });

  it('serves on 127.0.0.1 with a URL without trailing slash', () => {
    expect(fixture.emulator.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('serves instance metadata shaped like an Arc machine', async () => {
    const response = await get(fixture.emulator.url, INSTANCE);
    expect(response.status).to.equal(200);
    expect(response.headers.get('content-type')).to.match(/^application\/json/);
    const body = JSON.parse(response.text);
    expect(body.network).to.deep.equal({});
    expect(body.compute.osType).to.equal('windows');
    expect(body.compute.publicKeys).to.equal(null);
    expect(body.compute.storageProfile).to.deep.equal({});
    expect(body.compute.resourceId).to.match(
      /^\/subscriptions\/[0-9a-f-]{36}\/resourceGroups\/[^/]+\/providers\/Microsoft\.HybridCompute\/machines\/[^/]+$/,
    );
    const nonStrings = primitivesOf(body).filter(([path, value]) => typeof value !== 'string' && path !== '/compute/publicKeys');
    expect(nonStrings).to.deep.equal([]);
  });

  it('can listen on IPv6 loopback, with the host bracketed in its URL', async function () {
    const ipv6 = await startEmulatorInTempDir({ host: '::1' }).catch(() => undefined);
    if (ipv6 === undefined) {
      console.log('      skipped: ::1 is not available here');
      this.skip();
    }
    try {
      expect(ipv6.emulator.url).to.match(/^http:\/\/\[::1\]:\d+$/);
      expect((await get(ipv6.emulator.url, INSTANCE)).status).to.equal(200);
    } finally {
      await ipv6.dispose();
    }
  });

  it('accepts the Metadata header case-insensitively (HIMDS samples send "True")', async () => {
    expect((await get(fixture.emulator.url, INSTANCE, { metadata: 'True' })).status).to.equal(200);
    expect((await get(fixture.emulator.url, INSTANCE, { METADATA: 'TRUE' })).status).to.equal(200);
  });

  for (const [label, headers] of [
    ['missing', {}],
    ['false', { Metadata: 'false' }],
    ['empty', { Metadata: '' }],
  ] as const) {
    it(`rejects a ${label} Metadata header with 400`, async () => {
      const response = await get(fixture.emulator.url, INSTANCE, headers);
      expect(response.status).to.equal(400);
      expect(JSON.parse(response.text)).to.deep.equal({
        error: 'invalid_request',
        error_description: 'Required metadata header not specified',
      });
    });
  }

  for (const [label, query] of [
    ['missing', ''],
    ['old (IMDS-only)', '?api-version=2017-08-01'],
    ['garbage', '?api-version=%00%2F..'],
    ['empty', '?api-version='],
  ] as const) {
    it(`rejects a ${label} api-version listing the supported ones`, async () => {
      const response = await get(fixture.emulator.url, `/metadata/instance${query}`);
      expect(response.status).to.equal(400);
      const body = JSON.parse(response.text);
      expect(body.error).to.equal('invalid_request');
      expect(body.error_description).to.match(/\. Supported are 2021-02-01 2020-06-01 2019-11-01 2019-08-15$/);
    });
  }

  it('lists its own supported versions in its own order', async () => {
    const custom = await startEmulatorInTempDir({ supportedApiVersions: ['2019-11-01', '2020-06-01'] });
    try {
      const rejected = await get(custom.emulator.url, '/metadata/instance?api-version=2021-02-01');
      expect(JSON.parse(rejected.text).error_description).to.match(/Supported are 2019-11-01 2020-06-01$/);
      expect((await get(custom.emulator.url, '/metadata/instance?api-version=2019-11-01')).status).to.equal(200);
    } finally {
      await custom.dispose();
    }
  });

  it('fails to start on a port in use and leaves no directory behind', async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'himds-emulator-busy-'));
    try {
      let failure: unknown;
      await HimdsEmulator.start({ tokenDirectory: join(scratch, 'tokens'), port: fixture.emulator.port }).catch((error: unknown) => (failure = error));
      expect((failure as NodeJS.ErrnoException | undefined)?.code).to.equal('EADDRINUSE');
      expect(await readdir(scratch)).to.deep.equal([]);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });

  it('answers only GET', async () => {
    const response = await get(fixture.emulator.url, INSTANCE, { Metadata: 'true' }, 'POST');
    expect(response.status).to.equal(405);
    expect(response.headers.get('allow')).to.equal('GET');
  });

  for (const path of ['/', '/metadata/versions', '/metadata/attested/document?api-version=2021-02-01', '/metadata/Instance?api-version=2021-02-01', '/metadata/instance/?api-version=2021-02-01']) {
    it(`answers 404 JSON for ${path}`, async () => {
      const response = await get(fixture.emulator.url, path);
      expect(response.status).to.equal(404);
      expect(JSON.parse(response.text).error).to.equal('not_found');
    });
  }

  describe('instance sub-paths', () => {
    it('serves /metadata/instance/compute as the compute object', async () => {
      const response = await get(fixture.emulator.url, '/metadata/instance/compute?api-version=2021-02-01');
      expect(response.status).to.equal(200);
      expect(JSON.parse(response.text).name).to.equal(fixture.emulator.machine.machineName);
    });

    it('serves a leaf as text with format=text', async () => {
      const response = await get(fixture.emulator.url, '/metadata/instance/compute/vmId?api-version=2021-02-01&format=text');
      expect(response.status).to.equal(200);
      expect(response.headers.get('content-type')).to.match(/^text\/plain/);
      expect(response.text).to.equal(fixture.emulator.machine.vmId);
    });

    it('serves a null leaf as empty text', async () => {
      const response = await get(fixture.emulator.url, '/metadata/instance/compute/publicKeys?api-version=2021-02-01&format=text');
      expect(response.status).to.equal(200);
      expect(response.text).to.equal('');
    });

    it('rejects a leaf without format=text', async () => {
      const response = await get(fixture.emulator.url, '/metadata/instance/compute/vmId?api-version=2021-02-01');
      expect(response.status).to.equal(400);
    });

    it('lists the children of an inner node with format=text', async () => {
      const response = await get(fixture.emulator.url, '/metadata/instance?api-version=2021-02-01&format=text');
      expect(response.text.split('\n')).to.deep.equal(['compute/', 'network/']);
    });

    it('addresses array elements by index', async () => {
      const response = await get(fixture.emulator.url, '/metadata/instance/compute/tagsList/0/name?api-version=2021-02-01&format=text');
      expect(response.text).to.equal('environment');
      expect((await get(fixture.emulator.url, '/metadata/instance/compute/tagsList/9?api-version=2021-02-01')).status).to.equal(404);
    });

    it('answers 404 for an unknown sub-path', async () => {
      const response = await get(fixture.emulator.url, '/metadata/instance/compute/nope?api-version=2021-02-01');
      expect(response.status).to.equal(404);
    });

    it('serves no sub-path when serveInstanceSubpaths is false', async () => {
      const plain = await startEmulatorInTempDir({ serveInstanceSubpaths: false });
      try {
        expect((await get(plain.emulator.url, '/metadata/instance/compute?api-version=2021-02-01')).status).to.equal(404);
        expect((await get(plain.emulator.url, INSTANCE)).status).to.equal(200);
      } finally {
        await plain.dispose();
      }
    });
  });

  describe('identity info', () => {
    it('answers the tenant id', async () => {
      const custom = await startEmulatorInTempDir({ tenantId: '11111111-2222-3333-4444-555555555555' });
      try {
        const response = await get(custom.emulator.url, '/metadata/identity/info?api-version=2020-06-01');
        expect(response.status).to.equal(200);
        expect(JSON.parse(response.text)).to.deep.equal({ tenantId: '11111111-2222-3333-4444-555555555555' });
      } finally {
        await custom.dispose();
      }
    });

    it('answers 404 when serveIdentityInfo is false, like agents without it', async () => {
      const plain = await startEmulatorInTempDir({ serveIdentityInfo: false });
      try {
        const response = await get(plain.emulator.url, '/metadata/identity/info?api-version=2020-06-01');
        expect(response.status).to.equal(404);
        expect(JSON.parse(response.text).error).to.equal('not_found');
      } finally {
        await plain.dispose();
      }
    });
  });

  it('records each request with its answer and without the Authorization value', async () => {
    await get(fixture.emulator.url, `${INSTANCE}&x=1`, { Metadata: 'true', Authorization: 'Basic not-a-real-secret', 'X-Test': 'yes' });
    const [record] = fixture.emulator.requests;
    expect(record).to.include({ method: 'GET', path: '/metadata/instance', hadAuthorization: true, status: 200 });
    expect(record?.query).to.deep.equal({ 'api-version': '2021-02-01', x: '1' });
    expect(record?.headers['x-test']).to.equal('yes');
    expect(JSON.stringify(fixture.emulator.requests).includes('not-a-real-secret')).to.equal(false);
  });
});
