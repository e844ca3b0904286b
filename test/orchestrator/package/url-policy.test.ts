// Which download URLs are accepted, and that logs never see a URL's query.
import { expect } from 'chai';
import { RefusedUrlError, checkDownloadUrl, redactUrl, redactUrlText } from '../../../orchestrator/steps/package/url-policy.js';

describe('package URL policy', () => {
  const accepted = [
    'https://umsafx00rjmzcrqjpnnc.blob.core.windows.net/c/x_1.1.0.2.zip',
    'https://example.invalid/x.zip?sv=2020&sig=secret',
    'http://127.0.0.1:8080/x.zip',
    'http://127.255.0.9/x.zip',
    'http://localhost/x.zip',
    'http://LOCALHOST:1/x.zip',
    'http://[::1]:9/x.zip',
  ];
  for (const url of accepted) {
    it(`accepts ${url}`, () => {
      expect(checkDownloadUrl(url).href).to.equal(new URL(url).href);
    });
  }

  const refused: [string, RegExp][] = [
    ['http://example.invalid/x.zip', /plain http/],
    ['http://128.0.0.1/x.zip', /plain http/],
    ['http://169.254.169.254/x.zip', /plain http/],
    ['http://localhost.example.invalid/x.zip', /plain http/],
    ['http://127.0.0.1.example.invalid/x.zip', /plain http/],
    ['http://[::2]/x.zip', /plain http/],
    ['ftp://example.invalid/x.zip', /uses ftp/],
    ['file:///etc/passwd', /uses file/],
    ['not a url', /not an absolute URL/],
    ['/relative/x.zip', /not an absolute URL/],
  ];
  for (const [url, reason] of refused) {
    it(`refuses ${url}`, () => {
      expect(() => checkDownloadUrl(url)).to.throw(RefusedUrlError, reason);
    });
  }

  it('never repeats the query, fragment or user info of a refused URL', () => {
    const secret = 'sig=TopSecretSasToken';
    for (const url of [`http://user:${secret}@example.invalid/x.zip?${secret}`, `ftp://example.invalid/x?${secret}#${secret}`, `nonsense?${secret}`]) {
      try {
        checkDownloadUrl(url);
        expect.fail(`expected ${url} to be refused`);
      } catch (error) {
        expect((error as Error).message.includes(secret)).to.equal(false);
      }
    }
  });

  it('redacts user info, query and fragment', () => {
    expect(redactUrl(new URL('https://u:p@host.invalid:444/a/b.zip?sig=1#frag'))).to.equal('https://host.invalid:444/a/b.zip');
    expect(redactUrlText('https://host.invalid/a.zip?sig=1')).to.equal('https://host.invalid/a.zip');
    expect(redactUrlText('garbage://u:p@x?sig=1')).to.not.include('sig=1');
    expect(redactUrlText('garbage?sig=1')).to.equal('garbage');
  });

  it('allows plain http to every loopback form, and to nothing else', () => {
    for (const url of ['http://127.0.0.1/x.zip', 'http://127.1.2.3:8080/x.zip', 'http://[::1]/x.zip', 'http://localhost/x.zip', 'http://[::ffff:127.0.0.1]/x.zip']) {
      expect(checkDownloadUrl(url).href, url).to.be.a('string');
    }
    for (const url of ['http://126.0.0.1/x.zip', 'http://0.0.0.0/x.zip', 'http://[::]/x.zip', 'http://169.254.169.254/x.zip', 'http://example.invalid/x.zip']) {
      expect(() => checkDownloadUrl(url), url).to.throw(RefusedUrlError);
    }
  });
});
