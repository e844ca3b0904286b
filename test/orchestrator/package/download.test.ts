// Downloading against a real loopback server: success, retries, refusals, truncation, timeout, interruption.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { EXIT_CODES, HimdsproxyError } from '../../../orchestrator/errors.js';
import { MemoryReporter } from '../../../orchestrator/reporter.js';
import { downloadToFile, type DownloadOptions } from '../../../orchestrator/steps/package/download.js';
import { DownloadServer } from '../../support/download-server.js';

describe('package download', () => {
  const body = randomBytes(64 * 1024);
  let directory: string;
  let destination: string;
  let server: DownloadServer;
  let reporter: MemoryReporter;
  const fast: DownloadOptions = { timeoutMs: 5_000, retries: 2, retryDelayMs: 5, showProgress: false };

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'himdsproxy-download-'));
    destination = join(directory, 'package.zip.download');
    server = await new DownloadServer().start();
    reporter = new MemoryReporter();
  });
  afterEach(async () => {
    await server.close();
    await rm(directory, { recursive: true, force: true });
  });

  async function failure(url: string, options: Partial<DownloadOptions> = {}): Promise<HimdsproxyError> {
    const error = await downloadToFile(url, destination, reporter, { ...fast, ...options }).catch((caught: unknown) => caught);
    expect(error).to.be.instanceOf(HimdsproxyError);
    // A failed download never leaves a file that could be mistaken for the package.
    expect(await readdir(directory)).to.deep.equal([]);
    return error as HimdsproxyError;
  }

  it('downloads the whole body into the destination', async () => {
    server.serve('/pkg.zip', body);
    const result = await downloadToFile(server.url('/pkg.zip'), destination, reporter, fast);
    expect(result.bytes).to.equal(body.length);
    expect((await readFile(destination)).equals(body)).to.equal(true);
    expect(server.requestsFor('/pkg.zip')).to.equal(1);
    expect(reporter.text()).to.include(`Downloaded 0.1 MiB from ${server.url('/pkg.zip')}`);
  });

  it('asks for the raw bytes, and copes with a server that gzips anyway', async () => {
    server.serve('/pkg.zip', body, { kind: 'gzip' });
    await downloadToFile(server.url('/pkg.zip'), destination, reporter, fast);
    expect(server.requests[0]?.headers['accept-encoding']).to.equal('identity');
    expect((await readFile(destination)).equals(body)).to.equal(true);
  });

  it('does not retry a 404 and names the status', async () => {
    const error = await failure(server.url('/missing.zip'));
    expect(error.exitCode).to.equal(EXIT_CODES.packageFailed);
    expect(error.message).to.equal(`Download of ${server.url('/missing.zip')} failed: HTTP 404`);
    expect(server.requestsFor('/missing.zip')).to.equal(1);
  });

  it('does not retry a 403 either', async () => {
    server.serve('/pkg.zip', body, { kind: 'status', status: 403 });
    expect((await failure(server.url('/pkg.zip'))).message).to.match(/HTTP 403$/);
    expect(server.requestsFor('/pkg.zip')).to.equal(1);
  });

  it('retries a 500 and succeeds when the server recovers', async () => {
    server.serve('/pkg.zip', body, { kind: 'fail-then-ok', failures: 2, status: 500 });
    await downloadToFile(server.url('/pkg.zip'), destination, reporter, fast);
    expect((await readFile(destination)).equals(body)).to.equal(true);
    expect(server.requestsFor('/pkg.zip')).to.equal(3);
    expect(reporter.lines.filter((line) => line.level === 'warn').map((line) => line.message)).to.have.length(2);
    expect(reporter.text()).to.include('attempt 3 of 3');
  });

  it('gives up after the allowed retries of a 503', async () => {
    server.serve('/pkg.zip', body, { kind: 'status', status: 503 });
    const error = await failure(server.url('/pkg.zip'), { retries: 1 });
    expect(error.message).to.equal(`Download of ${server.url('/pkg.zip')} failed: HTTP 503 (after 2 attempts)`);
    expect(server.requestsFor('/pkg.zip')).to.equal(2);
  });

  it('treats a truncated body as a failure and retries it', async () => {
    server.serve('/pkg.zip', body, { kind: 'truncate', sendBytes: 1000 });
    const error = await failure(server.url('/pkg.zip'), { retries: 1 });
    expect(error.message).to.match(/connection broke after \d+ bytes|received \d+ of 65536 bytes/);
    expect(server.requestsFor('/pkg.zip')).to.equal(2);
  });

  it('recovers when only the first body was truncated', async () => {
    server.serve('/pkg.zip', body, { kind: 'truncate', sendBytes: 1000, times: 1 });
    await downloadToFile(server.url('/pkg.zip'), destination, reporter, fast);
    expect((await readFile(destination)).equals(body)).to.equal(true);
    expect(server.requestsFor('/pkg.zip')).to.equal(2);
  });

  it('times out against a server that stalls mid-body', async () => {
    server.serve('/pkg.zip', body, { kind: 'stall', sendBytes: 100 });
    const error = await failure(server.url('/pkg.zip'), { timeoutMs: 300 });
    expect(error.exitCode).to.equal(EXIT_CODES.packageFailed);
    expect(error.message).to.equal(`Download of ${server.url('/pkg.zip')} timed out after 0.3 s`);
  });

  it('retries an attempt that gets no answer at all, then fails naming why', async () => {
    const silent = createServer((socket) => socket.on('error', () => undefined));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const accepted: Socket[] = [];
    silent.on('connection', (socket) => accepted.push(socket));
    try {
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/pkg.zip`;
      const error = await failure(url, { answerTimeoutMs: 100, retries: 1 });
      expect(error.exitCode).to.equal(EXIT_CODES.packageFailed);
      expect(error.message).to.equal(`Download of ${url} failed: no answer within 0.1 s (after 2 attempts)`);
      // At least one connection per attempt (the HTTP client may open more when a socket is cut).
      expect(accepted.length).to.be.at.least(2);
    } finally {
      for (const socket of accepted) socket.destroy();
      silent.close();
    }
  });

  it('stops when the caller aborts, as an interruption', async () => {
    server.serve('/pkg.zip', body, { kind: 'stall', sendBytes: 100 });
    const controller = new AbortController();
    const pending = failure(server.url('/pkg.zip'), { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    expect((await pending).exitCode).to.equal(EXIT_CODES.interrupted);
  });

  it('refuses http to a host that is not loopback before connecting anywhere', async () => {
    const error = await failure('http://example.invalid/x.zip');
    expect(error.exitCode).to.equal(EXIT_CODES.usage);
    expect(error.message).to.match(/only https is allowed/);
    expect(reporter.lines).to.deep.equal([]);
  });

  it('follows a loopback redirect but refuses one to plain http elsewhere', async () => {
    server.serve('/pkg.zip', body);
    server.serve('/moved.zip', body, { kind: 'redirect', location: '/pkg.zip' });
    server.serve('/away.zip', body, { kind: 'redirect', location: 'http://example.invalid/pkg.zip' });
    await downloadToFile(server.url('/moved.zip'), destination, reporter, fast);
    expect((await readFile(destination)).equals(body)).to.equal(true);
    await rm(destination);
    const error = await failure(server.url('/away.zip'));
    expect(error.message).to.match(/redirected to a refused URL: http:\/\/example\.invalid\/pkg\.zip uses plain http/);
    expect(server.requestsFor('/away.zip')).to.equal(1);
  });

  it('refuses a body above the size limit', async () => {
    server.serve('/pkg.zip', body);
    const error = await failure(server.url('/pkg.zip'), { maxBytes: 1000 });
    expect(error.message).to.match(/announced 0\.1 MiB, more than the 0\.0 MiB allowed/);
    expect(server.requestsFor('/pkg.zip')).to.equal(1);
  });

  it('reports a refused connection as a network failure after retrying', async () => {
    const closed = await new DownloadServer().start();
    const url = closed.url('/pkg.zip');
    await closed.close();
    const error = await failure(url, { retries: 1 });
    expect(error.message).to.match(/failed: ECONNREFUSED \(after 2 attempts\)/);
  });

  it('never shows the query string (SAS token) in messages or logs', async () => {
    const secret = 'sig=SuperSecretSasSignature';
    server.serve('/pkg.zip', body, { kind: 'status', status: 500 });
    const error = await failure(`${server.url('/pkg.zip')}?sv=2024&${secret}`, { retries: 1 });
    expect(server.requests[0]?.target.includes(secret)).to.equal(true);
    expect(error.message.includes(secret)).to.equal(false);
    expect(reporter.text().includes(secret)).to.equal(false);
  });
});
