// The shipped handler catalog (assets/known-handlers.json): its shape, and choosing a download from it.
import { expect } from 'chai';
import { EXIT_CODES, HimdsproxyError } from '../../orchestrator/errors.js';
import { defaultHandler, knownDownload, knownHandlers, parseKnownHandlers } from '../../orchestrator/known-handlers.js';
import { DEFAULT_HANDLER } from '../../orchestrator/work-folder.js';

const entry = { name: 'Publisher.Type', version: '1.0', url: 'https://example.invalid/p.zip', sha256: null, default: true };
const catalogText = (handlers: unknown) => JSON.stringify({ handlers });

describe('known handlers catalog', () => {
  it('ships AADLoginForWindows 1.1.0.2 over HTTPS as the default', () => {
    const handler = defaultHandler(knownHandlers());
    expect(handler).to.include({ name: 'Microsoft.Azure.ActiveDirectory.AADLoginForWindows', version: '1.1.0.2', default: true });
    expect(new URL(handler.url).protocol).to.equal('https:');
    expect(DEFAULT_HANDLER).to.deep.equal({ name: handler.name, version: handler.version });
  });

  it('finds a download by name (any case) and exact version', () => {
    const handlers = parseKnownHandlers(catalogText([entry, { ...entry, version: '2.0', default: false, sha256: 'AB'.repeat(32) }]), 'test');
    expect(knownDownload('publisher.type', '2.0', handlers)).to.include({ url: entry.url, sha256: 'ab'.repeat(32) });
    expect(knownDownload('Publisher.Type', '1.0', handlers).sha256).to.equal(undefined);
  });

  it('an unknown version is a usage error naming the known ones', () => {
    const handlers = parseKnownHandlers(catalogText([entry]), 'test');
    const attempt = () => knownDownload('Publisher.Type', '9.9', handlers);
    expect(attempt).to.throw(HimdsproxyError, 'No download URL is known for Publisher.Type 9.9 (known: 1.0)');
    try {
      attempt();
    } catch (error) {
      expect((error as HimdsproxyError).exitCode).to.equal(EXIT_CODES.usage);
      expect((error as HimdsproxyError).fix).to.match(/--handler-url|--handler-zip/);
    }
  });

  for (const [label, text, message] of [
    ['not JSON', '{', 'not JSON'],
    ['no handlers', '{}', '"handlers" must be a non-empty array'],
    ['an empty list', catalogText([]), '"handlers" must be a non-empty array'],
    ['a missing url', catalogText([{ ...entry, url: undefined }]), 'handlers[0].url must be a non-empty string'],
    ['a malformed checksum', catalogText([{ ...entry, sha256: 'xyz' }]), 'handlers[0].sha256 must be 64 hexadecimal characters or null'],
    ['no default', catalogText([{ ...entry, default: false }]), 'exactly one handler must have "default": true'],
    ['two defaults', catalogText([entry, { ...entry, version: '2' }]), 'exactly one handler must have "default": true'],
  ] as const) {
    it(`refuses a catalog with ${label}`, () => {
      expect(() => parseKnownHandlers(text, 'catalog.json')).to.throw(`catalog.json: ${message}`);
    });
  }
});
