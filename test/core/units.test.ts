// Small pure pieces of the core: api-version mapping, challenge parsing and path checks, config, peers, metadata walking, claims.
import { expect } from 'chai';
import { HimdsApiVersions, closestSupportedApiVersion, isKnownImdsApiVersion, parseSupportedApiVersions } from '../../core/api-versions.js';
import { ChallengeError, parseChallengeRealm, validateKeyPath, type ChallengeFailureReason } from '../../core/challenge.js';
import { UsageError, parseListenAddress, parseProxyArguments } from '../../core/config.js';
import { DEFAULT_HIMDS_URL, DEFAULT_LISTEN, DEFAULT_UPSTREAM_TIMEOUT_MS, defaultTokenDirectory, proxyCommandLine } from '../../core/contract.js';
import { upstreamTarget } from '../../core/himds-request.js';
import { problemBody, ImdsProblem } from '../../core/imds-errors.js';
import { listChildrenAsText, stringifyPrimitives, walkInstanceMetadata } from '../../core/instance-metadata.js';
import { tenantIdClaim } from '../../core/jwt-claims.js';
import { canonicalAddress, createLocalPeerCheck, isLoopbackAddress } from '../../core/local-peer.js';
import { forwardableRequestHeaders, returnableResponseHeaders } from '../../core/routes/passthrough.js';
import { mintUnsignedJwt } from '../support/jwt.js';

const AGENT_2024_REFUSAL =
  '{"error":"invalid_request","error_description":"Invalid API version: 2018-02-01. Supported are 2021-02-01 2020-06-01 2019-11-01 2019-08-15"}';

describe('core units', () => {
  describe('api-versions', () => {
    it('knows IMDS versions and refuses others', () => {
      expect(isKnownImdsApiVersion('2017-08-01')).to.equal(true);
      expect(isKnownImdsApiVersion('2025-04-07')).to.equal(true);
      for (const bad of [undefined, '', '2017-08-1', '2099-01-01', ' 2017-08-01', '2017-08-01 ']) expect(isKnownImdsApiVersion(bad), String(bad)).to.equal(false);
    });

    it('reads the agent\'s "Supported are" list, and nothing from other errors', () => {
      expect(parseSupportedApiVersions(AGENT_2024_REFUSAL)).to.deep.equal(['2021-02-01', '2020-06-01', '2019-11-01', '2019-08-15']);
      expect(parseSupportedApiVersions('{"error":"invalid_request","error_description":"Invalid resource 2021-02-01"}')).to.equal(undefined);
      expect(parseSupportedApiVersions('Supported are')).to.equal(undefined);
      expect(parseSupportedApiVersions('')).to.equal(undefined);
    });

    const mappingCases: [string, string[], string | undefined][] = [
      ['2017-08-01', ['2021-02-01', '2020-06-01', '2019-11-01'], '2019-11-01'],
      ['2017-12-01', ['2021-02-01', '2020-06-01', '2019-11-01'], '2019-11-01'],
      ['2018-02-01', ['2021-02-01', '2019-11-01'], '2019-11-01'],
      ['2020-09-01', ['2021-02-01', '2020-06-01', '2019-11-01'], '2020-06-01'],
      ['2025-04-07', ['2021-02-01', '2020-06-01'], '2021-02-01'],
      ['2020-06-01', ['2021-02-01', '2020-06-01'], '2020-06-01'],
      ['2020-06-01', [], undefined],
    ];
    for (const [requested, supported, expected] of mappingCases) {
      it(`maps ${requested} onto [${supported.join(' ')}] as ${expected}`, () => {
        expect(closestSupportedApiVersion(requested, supported)).to.equal(expected);
      });
    }

    it('learns once, then maps without asking; relearns when the list changes', () => {
      const versions = new HimdsApiVersions();
      expect(versions.versionToSend('2018-02-01')).to.equal('2018-02-01');
      expect(versions.learnFromRefusal('2018-02-01', '2018-02-01', AGENT_2024_REFUSAL)).to.equal('2019-08-15');
      expect(versions.versionToSend('2017-08-01')).to.equal('2019-08-15');
      expect(versions.versionToSend('2021-02-01')).to.equal('2021-02-01');
      // A refusal of a version the agent itself lists says nothing about versions: no retry.
      expect(versions.learnFromRefusal('2021-02-01', '2021-02-01', AGENT_2024_REFUSAL)).to.equal(undefined);
      expect(versions.learnFromRefusal('2019-08-15', '2017-08-01', 'Supported are 2021-02-01 2019-11-01')).to.equal('2019-11-01');
      expect(versions.versionToSend('2017-08-01')).to.equal('2019-11-01');
    });

    it('sends exactly one api-version upstream, whatever case the caller used', () => {
      const target = upstreamTarget('/metadata/instance', new URLSearchParams('API-Version=2017-08-01&format=json'), '2019-11-01');
      expect(target).to.equal('/metadata/instance?api-version=2019-11-01&format=json');
    });
  });

  describe('challenge', () => {
    it('parses HIMDS\'s unquoted realm, and tolerates quotes', () => {
      expect(parseChallengeRealm('Basic realm=/var/opt/azcmagent/tokens/a.key')).to.equal('/var/opt/azcmagent/tokens/a.key');
      expect(parseChallengeRealm('Basic realm=C:\\ProgramData\\AzureConnectedMachineAgent\\Tokens\\b.key')).to.equal('C:\\ProgramData\\AzureConnectedMachineAgent\\Tokens\\b.key');
      expect(parseChallengeRealm('basic realm="/t/c.key"')).to.equal('/t/c.key');
    });

    for (const header of [null, undefined, '', 'Basic', 'Basic realm=', 'Bearer realm=/t/a.key', 'Digest realm=/t/a.key', 'Basic realm=""']) {
      it(`refuses the challenge header ${JSON.stringify(header)}`, () => {
        expect(() => parseChallengeRealm(header)).to.throw(ChallengeError).with.property('reason', 'missing-challenge');
      });
    }

    const pathCases: [string, string, NodeJS.Platform, ChallengeFailureReason | 'ok'][] = [
      ['/var/opt/azcmagent/tokens/abc.key', '/var/opt/azcmagent/tokens', 'linux', 'ok'],
      ['/var/opt/azcmagent/tokens/abc.key', '/var/opt/azcmagent/tokens/', 'linux', 'ok'],
      ['/var/opt/azcmagent/tokens/abc.KEY', '/var/opt/azcmagent/tokens', 'linux', 'not-key-file'],
      ['/var/opt/azcmagent/tokens/abc.txt', '/var/opt/azcmagent/tokens', 'linux', 'not-key-file'],
      ['/var/opt/azcmagent/tokens/.key', '/var/opt/azcmagent/tokens', 'linux', 'not-key-file'],
      ['/var/opt/azcmagent/tokens/abc.key.txt', '/var/opt/azcmagent/tokens', 'linux', 'not-key-file'],
      ['/etc/shadow.key', '/var/opt/azcmagent/tokens', 'linux', 'outside-token-directory'],
      ['/var/opt/azcmagent/tokens/sub/abc.key', '/var/opt/azcmagent/tokens', 'linux', 'outside-token-directory'],
      ['/var/opt/azcmagent/tokens/../tokens/abc.key', '/var/opt/azcmagent/tokens', 'linux', 'outside-token-directory'],
      ['/var/opt/azcmagent/tokens/./abc.key', '/var/opt/azcmagent/tokens', 'linux', 'outside-token-directory'],
      ['/var/opt/azcmagent/tokens-evil/abc.key', '/var/opt/azcmagent/tokens', 'linux', 'outside-token-directory'],
      ['/var/opt/azcmagent/tokens/a\u0000.key', '/var/opt/azcmagent/tokens', 'linux', 'outside-token-directory'],
      ['tokens/abc.key', '/var/opt/azcmagent/tokens', 'linux', 'relative-path'],
      ['C:\\ProgramData\\AzureConnectedMachineAgent\\Tokens\\abc.key', 'C:\\ProgramData\\AzureConnectedMachineAgent\\Tokens', 'win32', 'ok'],
      ['c:\\programdata\\azureconnectedmachineagent\\tokens\\ABC.KEY', 'C:\\ProgramData\\AzureConnectedMachineAgent\\Tokens', 'win32', 'ok'],
      ['C:/ProgramData/AzureConnectedMachineAgent/Tokens/abc.key', 'C:\\ProgramData\\AzureConnectedMachineAgent\\Tokens', 'win32', 'ok'],
      ['C:\\ProgramData\\AzureConnectedMachineAgent\\Tokens\\..\\..\\secret.key', 'C:\\ProgramData\\AzureConnectedMachineAgent\\Tokens', 'win32', 'outside-token-directory'],
      ['C:\\Windows\\System32\\config\\SAM.key', 'C:\\ProgramData\\AzureConnectedMachineAgent\\Tokens', 'win32', 'outside-token-directory'],
      ['\\\\attacker\\share\\abc.key', 'C:\\ProgramData\\AzureConnectedMachineAgent\\Tokens', 'win32', 'outside-token-directory'],
      ['Tokens\\abc.key', 'C:\\ProgramData\\AzureConnectedMachineAgent\\Tokens', 'win32', 'relative-path'],
    ];
    for (const [realm, directory, platform, expected] of pathCases) {
      it(`${platform}: ${JSON.stringify(realm)} → ${expected}`, () => {
        if (expected === 'ok') {
          expect(() => validateKeyPath(realm, directory, platform)).not.to.throw();
        } else {
          expect(() => validateKeyPath(realm, directory, platform)).to.throw(ChallengeError).with.property('reason', expected);
        }
      });
    }
  });

  describe('config', () => {
    it('defaults to IMDS\'s address, the agent\'s URL and token directory', () => {
      const options = parseProxyArguments([], {});
      expect(options).to.deep.equal({
        listen: DEFAULT_LISTEN,
        himdsUrl: DEFAULT_HIMDS_URL,
        tokenDirectory: defaultTokenDirectory(),
        allowedResources: [],
        upstreamTimeoutMs: DEFAULT_UPSTREAM_TIMEOUT_MS,
      });
    });

    it('round-trips proxyCommandLine()', () => {
      const wanted = {
        listen: '127.0.0.1:0',
        himdsUrl: 'http://127.0.0.1:40342',
        tokenDirectory: '/tmp/tokens',
        allowedResources: ['urn:a', 'urn:b'],
        upstreamTimeoutMs: 1234,
        accessLogFile: '/tmp/proxy.log',
      };
      expect(parseProxyArguments(proxyCommandLine(wanted), {})).to.deep.equal(wanted);
    });

    it('takes HIMDS from --himds, then IMDS_ENDPOINT, then IDENTITY_ENDPOINT\'s origin', () => {
      const environment = { IMDS_ENDPOINT: 'http://localhost:1111', IDENTITY_ENDPOINT: 'http://localhost:2222/metadata/identity/oauth2/token' };
      expect(parseProxyArguments(['--himds', 'http://127.0.0.1:3333/'], environment).himdsUrl).to.equal('http://127.0.0.1:3333');
      expect(parseProxyArguments([], environment).himdsUrl).to.equal('http://localhost:1111');
      expect(parseProxyArguments([], { IDENTITY_ENDPOINT: environment.IDENTITY_ENDPOINT }).himdsUrl).to.equal('http://localhost:2222');
    });

    const usageCases: string[][] = [
      ['--listen', '169.254.169.254'],
      ['--listen', ':80'],
      ['--listen', '127.0.0.1:65536'],
      ['--listen', '::1:80'],
      ['--himds', 'localhost:40342'],
      ['--himds', 'file:///etc/passwd'],
      ['--upstream-timeout', '0'],
      ['--upstream-timeout', '-5'],
      ['--upstream-timeout', '1e3'],
      ['--upstream-timeout', 'soon'],
      ['--allow-resource', ''],
      ['--token-dir', ''],
      ['--unknown'],
      ['positional'],
      ['--listen'],
    ];
    for (const argv of usageCases) {
      it(`refuses ${JSON.stringify(argv)} as a usage error`, () => {
        expect(() => parseProxyArguments(argv, {})).to.throw(UsageError);
      });
    }

    it('refuses a malformed IMDS_ENDPOINT naming the variable', () => {
      expect(() => parseProxyArguments([], { IMDS_ENDPOINT: 'not a url' })).to.throw(UsageError, /IMDS_ENDPOINT/);
    });

    it('parses IPv4, IPv6 and name listen addresses', () => {
      expect(parseListenAddress('169.254.169.254:80')).to.deep.equal({ host: '169.254.169.254', port: 80 });
      expect(parseListenAddress('[::1]:0')).to.deep.equal({ host: '::1', port: 0 });
      expect(parseListenAddress('localhost:8080')).to.deep.equal({ host: 'localhost', port: 8080 });
    });
  });

  describe('local peers', () => {
    it('canonicalises mapped and zoned addresses', () => {
      expect(canonicalAddress('::FFFF:127.0.0.1')).to.equal('127.0.0.1');
      expect(canonicalAddress('fe80::1%eth0')).to.equal('fe80::1');
    });

    it('treats 127/8 and ::1 as loopback, nothing else', () => {
      for (const address of ['127.0.0.1', '127.255.255.254', '::1', '::ffff:127.0.0.2', '::ffff:7f00:2']) expect(isLoopbackAddress(address), address).to.equal(true);
      for (const address of ['128.0.0.1', '10.0.0.1', '::2', '169.254.169.254', '::ffff:10.0.0.1']) expect(isLoopbackAddress(address), address).to.equal(false);
    });

    it('accepts interface addresses, re-reading the list only after the cache expires', () => {
      let now = 0;
      let reads = 0;
      let addresses = ['169.254.169.254'];
      const check = createLocalPeerCheck({
        cacheMs: 1_000,
        now: () => now,
        listInterfaces: () => {
          reads += 1;
          return { lo: addresses.map((address) => ({ address, netmask: '255.255.255.255', family: 'IPv4' as const, mac: '00:00:00:00:00:00', internal: true, cidr: `${address}/32` })) };
        },
      });
      expect(check('169.254.169.254')).to.equal(true);
      expect(check('192.0.2.1')).to.equal(false);
      expect(reads).to.equal(1);
      addresses = ['192.0.2.1'];
      now = 500;
      expect(check('192.0.2.1')).to.equal(false);
      now = 1_500;
      expect(check('192.0.2.1')).to.equal(true);
      expect(check('169.254.169.254')).to.equal(false);
      expect(reads).to.equal(2);
      expect(check(undefined)).to.equal(false);
      expect(check('')).to.equal(false);
    });
  });

  describe('instance metadata', () => {
    const document = { compute: { vmId: 'v', tagsList: [{ name: 'a', value: 'b' }], publicKeys: null, count: 3, flag: true }, network: {} };

    it('stringifies numbers and booleans, keeps strings and null', () => {
      expect(stringifyPrimitives(document)).to.deep.equal({
        compute: { vmId: 'v', tagsList: [{ name: 'a', value: 'b' }], publicKeys: null, count: '3', flag: 'true' },
        network: {},
      });
    });

    it('changes nothing, and copies nothing, when every primitive is already a string', () => {
      const allStrings = { compute: { vmId: 'v', tagsList: [{ name: 'a' }], publicKeys: null }, network: {} };
      expect(stringifyPrimitives(allStrings)).to.equal(allStrings);
      const mixed = { compute: { count: 3, tags: ['x', 1] }, untouched: { a: 'b' } };
      const shaped = stringifyPrimitives(mixed) as typeof mixed;
      expect(shaped).to.deep.equal({ compute: { count: '3', tags: ['x', '1'] }, untouched: { a: 'b' } });
      expect(mixed.compute.count, 'the input is not mutated').to.equal(3);
      expect(shaped.untouched, 'unchanged branches are shared').to.equal(mixed.untouched);
    });

    it('walks keys case-sensitively and arrays by index', () => {
      expect(walkInstanceMetadata(document, ['compute', 'vmId'])).to.equal('v');
      expect(walkInstanceMetadata(document, ['compute', 'tagsList', '0', 'name'])).to.equal('a');
      expect(walkInstanceMetadata(document, ['compute', 'vmid'])).to.equal(undefined);
      expect(walkInstanceMetadata(document, ['compute', 'tagsList', 'x'])).to.equal(undefined);
      expect(walkInstanceMetadata(document, ['compute', 'tagsList', '5'])).to.equal(undefined);
      expect(walkInstanceMetadata(document, ['compute', 'vmId', 'length'])).to.equal(undefined);
      expect(walkInstanceMetadata(document, ['__proto__'])).to.equal(undefined);
      expect(walkInstanceMetadata(document, ['compute', 'constructor'])).to.equal(undefined);
    });

    it('lists children as text, containers with a trailing slash', () => {
      expect(listChildrenAsText(document)).to.equal('compute/\nnetwork/');
      expect(listChildrenAsText(document.compute)).to.equal('vmId\ntagsList/\npublicKeys\ncount\nflag');
    });
  });

  describe('tenant id claim', () => {
    it('reads tid from a JWT-shaped token', () => {
      expect(tenantIdClaim(mintUnsignedJwt({ tid: '72f988bf-86f1-41af-91ab-2d7cd011db47' }))).to.equal('72f988bf-86f1-41af-91ab-2d7cd011db47');
    });
    for (const [name, token] of [
      ['no tid', mintUnsignedJwt({ aud: 'x' })],
      ['a tid that is not a GUID', mintUnsignedJwt({ tid: '../../etc' })],
      ['a numeric tid', mintUnsignedJwt({ tid: 5 })],
      ['not a JWT', 'opaque-token'],
      ['a payload that is not JSON', 'a.bm90IGpzb24.c'],
      ['a payload that is an array', `a.${Buffer.from('[1]').toString('base64url')}.c`],
      ['an empty token', ''],
    ] as const) {
      it(`gives nothing for ${name}`, () => {
        expect(tenantIdClaim(token)).to.equal(undefined);
      });
    }
  });

  describe('error shapes', () => {
    it('general endpoints say "<Reason>. <detail>"; the token endpoint uses OAuth codes', () => {
      const problem = new ImdsProblem(503, 'HIMDS down');
      expect(problemBody(problem, 'general')).to.deep.equal({ error: 'Service unavailable. HIMDS down' });
      expect(problemBody(problem, 'token')).to.deep.equal({ error: 'temporarily_unavailable', error_description: 'HIMDS down' });
      expect(problemBody(new ImdsProblem(502, 'x'), 'token')).to.include({ error: 'server_error' });
      expect(problemBody(new ImdsProblem(400, 'x'), 'token')).to.include({ error: 'invalid_request' });
    });
  });

  describe('passthrough headers', () => {
    it('drops hop-by-hop, connection-listed, secret and forwarding headers upstream', () => {
      const forwarded = forwardableRequestHeaders(new Headers({
        Metadata: 'true', Accept: 'application/json', Connection: 'keep-alive, X-Custom', 'X-Custom': '1', 'Keep-Alive': 'timeout=5',
        Authorization: 'Basic c2VjcmV0', 'Transfer-Encoding': 'chunked', Host: 'evil', 'X-Forwarded-Host': 'evil', TE: 'trailers', Upgrade: 'h2c',
      }));
      expect(forwarded).to.deep.equal({ metadata: 'true', accept: 'application/json' });
    });

    it('drops hop-by-hop and encoding headers on the way back and sets our Server', () => {
      const returned = returnableResponseHeaders(new Headers({
        'Content-Type': 'application/json', Connection: 'close', 'Transfer-Encoding': 'chunked', 'Content-Encoding': 'gzip', Server: 'himds', 'Content-Length': '5', 'X-Ms-Id': '1',
      }));
      expect(Object.fromEntries(returned)).to.deep.equal({ 'content-type': 'application/json', server: 'himdsproxy', 'x-ms-id': '1' });
    });
  });
});
