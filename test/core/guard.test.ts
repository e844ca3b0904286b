// The IMDS guard, driven in-process: who may ask, what a request must look like, and that refusals never reach HIMDS.
import { expect } from 'chai';
import { NEWEST_IMDS_API_VERSIONS, KNOWN_IMDS_API_VERSIONS } from '../../core/api-versions.js';
import { METADATA, inProcessProxy } from './app-harness.js';

const INSTANCE = '/metadata/instance?api-version=2021-02-01';
const TOKEN = '/metadata/identity/oauth2/token?api-version=2021-02-01&resource=https://management.azure.com/';

describe('core guard (in-process)', () => {
  describe('refuses before touching HIMDS', () => {
    const cases: { name: string; target: string; status: number; headers?: Record<string, string>; method?: string; peer?: string | null; error: RegExp }[] = [
      { name: 'a peer on another machine', target: INSTANCE, status: 403, peer: '203.0.113.7', error: /^Forbidden\. This proxy answers only/ },
      { name: 'an IPv4-mapped remote peer', target: INSTANCE, status: 403, peer: '::ffff:203.0.113.7', error: /^Forbidden/ },
      { name: 'a request with no peer at all', target: INSTANCE, status: 403, peer: null, error: /^Forbidden/ },
      { name: 'a peer that is not an address', target: INSTANCE, status: 403, peer: 'localhost', error: /^Forbidden/ },
      { name: 'backslashes (GHSA-p82q-rxpm-hjpc)', target: '/metadata/identity\\oauth2\\token?api-version=2021-02-01&resource=x', status: 400, error: /^Bad request\. The request path/ },
      { name: 'an encoded backslash %5c', target: '/metadata/identity%5coauth2%5ctoken?api-version=2021-02-01&resource=x', status: 400, error: /^Bad request/ },
      { name: 'an encoded backslash %5C', target: '/metadata/identity%5Coauth2%5Ctoken?api-version=2021-02-01&resource=x', status: 400, error: /^Bad request/ },
      { name: '.. segments', target: '/metadata/instance/../identity/oauth2/token?api-version=2021-02-01&resource=x', status: 400, error: /^Bad request/ },
      { name: 'encoded .. (%2e%2e)', target: '/metadata/instance/%2e%2e/identity/oauth2/token?api-version=2021-02-01', status: 400, error: /^Bad request/ },
      { name: 'mixed-case encoded dots', target: '/metadata/instance/%2E%2e/x?api-version=2021-02-01', status: 400, error: /^Bad request/ },
      { name: 'an encoded slash', target: '/metadata%2finstance?api-version=2021-02-01', status: 400, error: /^Bad request/ },
      { name: '. segments', target: '/metadata/./instance?api-version=2021-02-01', status: 400, error: /^Bad request/ },
      { name: 'a leading double slash', target: '//metadata/instance?api-version=2021-02-01', status: 400, error: /^Bad request/ },
      { name: 'an inner double slash', target: '/metadata//instance?api-version=2021-02-01', status: 400, error: /^Bad request/ },
      { name: 'a NUL byte', target: '/metadata/instance%00?api-version=2021-02-01', status: 400, error: /^Bad request/ },
      { name: 'an absolute-form target (forward proxy use)', target: 'http://198.51.100.1/metadata/instance?api-version=2021-02-01', status: 400, error: /^Bad request\. The request target must be a path/ },
      { name: 'a duplicated parameter', target: '/metadata/instance?api-version=2021-02-01&api-version=2021-02-01', status: 400, error: /given more than once/ },
      { name: 'a parameter duplicated in another case', target: '/metadata/instance?api-version=2021-02-01&API-VERSION=2019-11-01', status: 400, error: /given more than once/ },
      { name: 'a broken query escape', target: '/metadata/instance?api-version=2021-02-01&format=%zz', status: 400, error: /not correctly encoded/ },
      { name: 'a path outside /metadata/', target: '/latest/api/token', status: 404, error: /^Not found/ },
      { name: 'the root', target: '/', status: 404, error: /^Not found/ },
      { name: 'a look-alike prefix', target: '/metadataX/instance?api-version=2021-02-01', status: 404, error: /^Not found/ },
      { name: 'POST', target: INSTANCE, method: 'POST', status: 405, error: /^Method not allowed/ },
      { name: 'PUT', target: INSTANCE, method: 'PUT', status: 405, error: /^Method not allowed/ },
      { name: 'HEAD', target: INSTANCE, method: 'HEAD', status: 405, error: /.*/ },
      { name: 'X-Forwarded-For', target: INSTANCE, headers: { ...METADATA, 'X-Forwarded-For': '127.0.0.1' }, status: 400, error: /X-Forwarded-For/ },
      { name: 'a missing Metadata header', target: INSTANCE, headers: {}, status: 400, error: /^Bad request\. Required metadata header not specified$/ },
      { name: 'Metadata: false', target: INSTANCE, headers: { Metadata: 'false' }, status: 400, error: /Required metadata header/ },
      { name: 'an empty Metadata header', target: INSTANCE, headers: { Metadata: '' }, status: 400, error: /Required metadata header/ },
      { name: 'a missing api-version', target: '/metadata/instance', status: 400, error: /^Bad request\. api-version is invalid or was not specified/ },
      { name: 'an unknown api-version', target: '/metadata/instance?api-version=2099-01-01', status: 400, error: /api-version is invalid/ },
      { name: 'a malformed api-version', target: '/metadata/instance?api-version=latest', status: 400, error: /api-version is invalid/ },
    ];
    for (const testCase of cases) {
      it(`${testCase.name} → ${testCase.status}`, async () => {
        const proxy = inProcessProxy();
        const response = await proxy.request(testCase.target, {
          headers: testCase.headers ?? METADATA,
          ...(testCase.method ? { method: testCase.method } : {}),
          ...(testCase.peer !== undefined ? { peer: testCase.peer } : {}),
        });
        expect(response.status).to.equal(testCase.status);
        expect(response.headers.get('server')).to.equal('himdsproxy');
        if (testCase.method !== 'HEAD') {
          expect(response.headers.get('content-type')).to.match(/^application\/json/);
          const body = (await response.json()) as { error: string };
          expect(body.error).to.match(testCase.error);
        }
        expect(proxy.upstreamCalls).to.deep.equal([]);
        expect(proxy.accessLog.entries).to.have.length(1);
        expect(proxy.accessLog.entries[0]!.status).to.equal(testCase.status);
      });
    }
  });

  it('answers the header-less @azure/identity probe with the token-shaped 400, without HIMDS', async () => {
    const proxy = inProcessProxy();
    const response = await proxy.request('/metadata/identity/oauth2/token', { headers: {} });
    expect(response.status).to.equal(400);
    expect(await response.json()).to.deep.equal({ error: 'invalid_request', error_description: 'Required metadata header not specified' });
    expect(proxy.upstreamCalls).to.deep.equal([]);
  });

  it('lists newest-versions in the api-version refusal', async () => {
    const proxy = inProcessProxy();
    const body = (await (await proxy.request('/metadata/instance?api-version=2010-01-01', { headers: METADATA })).json()) as Record<string, unknown>;
    expect(body['newest-versions']).to.deep.equal(NEWEST_IMDS_API_VERSIONS);
    expect(NEWEST_IMDS_API_VERSIONS[0]).to.equal('2025-04-07');
  });

  it('accepts Metadata: True and other cases of true', async () => {
    for (const value of ['True', 'TRUE', 'true', ' true ']) {
      const proxy = inProcessProxy();
      const response = await proxy.request(INSTANCE, { headers: { Metadata: value } });
      expect(response.status, value).to.equal(200);
    }
  });

  it('accepts loopback and this machine\'s own addresses as peers', async () => {
    for (const peer of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1', '192.0.2.10', '::ffff:192.0.2.10']) {
      const proxy = inProcessProxy();
      const response = await proxy.request(INSTANCE, { headers: METADATA, peer });
      expect(response.status, peer).to.equal(200);
    }
  });

  it('matches /metadata case-insensitively and keeps the caller\'s path case for HIMDS', async () => {
    const proxy = inProcessProxy();
    const response = await proxy.request('/METADATA/Instance/?api-version=2021-02-01', { headers: METADATA });
    expect(response.status).to.equal(200);
    expect(proxy.upstreamCalls.map((url) => url.pathname)).to.deep.equal(['/metadata/instance']);
  });

  it('answers /metadata/versions itself, without an api-version', async () => {
    const proxy = inProcessProxy();
    const response = await proxy.request('/metadata/versions', { headers: METADATA });
    expect(response.status).to.equal(200);
    expect(await response.json()).to.deep.equal({ apiVersions: KNOWN_IMDS_API_VERSIONS });
    expect(proxy.upstreamCalls).to.deep.equal([]);
  });

  describe('token requests refused by the proxy itself', () => {
    for (const parameter of ['client_id', 'object_id', 'msi_res_id', 'mi_res_id', 'CLIENT_ID']) {
      it(`${parameter} → 400 invalid_request (system-assigned only)`, async () => {
        const proxy = inProcessProxy();
        const response = await proxy.request(`${TOKEN}&${parameter}=00000000-0000-0000-0000-000000000001`, { headers: METADATA });
        expect(response.status).to.equal(400);
        const body = (await response.json()) as { error: string; error_description: string };
        expect(body.error).to.equal('invalid_request');
        expect(body.error_description).to.match(/^Azure Arc supports only the system-assigned identity/);
        expect(proxy.upstreamCalls).to.deep.equal([]);
      });
    }

    it('a missing resource → 400 invalid_request', async () => {
      const proxy = inProcessProxy();
      for (const target of ['/metadata/identity/oauth2/token?api-version=2021-02-01', '/metadata/identity/oauth2/token?api-version=2021-02-01&resource=']) {
        const response = await proxy.request(target, { headers: METADATA });
        expect(response.status).to.equal(400);
        expect(((await response.json()) as { error: string }).error).to.equal('invalid_request');
      }
      expect(proxy.upstreamCalls).to.deep.equal([]);
    });

    it('a resource outside --allow-resource → 403 and an access-log line naming it', async () => {
      const proxy = inProcessProxy({ allowedResources: ['urn:ms-drs:enterpriseregistration.windows.net'] });
      const response = await proxy.request(TOKEN, { headers: METADATA });
      expect(response.status).to.equal(403);
      const body = (await response.json()) as { error: string; error_description: string };
      expect(body.error).to.equal('access_denied');
      expect(body.error_description).to.include('https://management.azure.com/');
      expect(proxy.upstreamCalls).to.deep.equal([]);
      expect(proxy.accessLog.entries[0]).to.include({ status: 403, resource: 'https://management.azure.com/', reason: 'resource not allowed' });
    });
  });
});
