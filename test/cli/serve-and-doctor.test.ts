// `himdsproxy serve` and `himdsproxy doctor` as a user runs them: the built CLI, real processes, loopback only.
import { expect } from 'chai';
import { execaNode } from 'execa';
import { createServer, type Server } from 'node:net';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT_CODES } from '../../orchestrator/errors.js';
import { isProcessAlive } from '../../orchestrator/process-check.js';
import { HimdsEmulator } from '../support/himds-emulator.js';
import { BUILT_CLI } from '../support/join-harness.js';

const DRS = 'urn:ms-drs:enterpriseregistration.windows.net';

function runCli(args: string[], env: Record<string, string> = {}) {
  return execaNode(BUILT_CLI, args, { reject: false, nodeOptions: [], timeout: 30_000, env });
}

function waitForLine(stream: NodeJS.ReadableStream, pattern: RegExp): Promise<RegExpMatchArray> {
  let seen = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within 10 s; saw: ${seen}`)), 10_000);
    stream.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const match = pattern.exec(seen);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    });
  });
}

describe('himdsproxy serve and doctor (built CLI)', function () {
  this.timeout(30_000);
  let root: string;
  let emulator: HimdsEmulator;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'himdsproxy-cli-'));
    emulator = await HimdsEmulator.start({ tokenDirectory: join(root, 'tokens') });
  });

  afterEach(async () => {
    await emulator.stop();
    await rm(root, { recursive: true, force: true });
  });

  describe('serve', () => {
    it('serves IMDS from HIMDS, logs each request, and stops on Ctrl+C with exit 0', async () => {
      const accessLog = join(root, 'access.log');
      const child = execaNode(
        BUILT_CLI,
        ['serve', '--listen', '127.0.0.1:0', '--himds', emulator.url, '--token-dir', emulator.tokenDirectory, '--allow-resource', DRS, '--access-log', accessLog],
        { reject: false, nodeOptions: [] },
      );
      const [, url] = await waitForLine(child.stdout!, /listening on (http:\/\/127\.0\.0\.1:\d+)/);

      const instance = await fetch(`${url}/metadata/instance?api-version=2021-02-01`, { headers: { Metadata: 'true' } });
      expect(instance.status).to.equal(200);
      expect(instance.headers.get('server')).to.match(/^himdsproxy/);
      expect(((await instance.json()) as { compute: { name: string } }).compute.name).to.equal(emulator.machine.machineName);

      const token = await fetch(`${url}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(DRS)}`, { headers: { Metadata: 'true' } });
      expect(token.status).to.equal(200);
      const tokenBody = (await token.json()) as Record<string, unknown>;
      expect(emulator.issuedAccessTokens.includes(tokenBody.access_token as string)).to.equal(true);

      const refused = await fetch(`${url}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/`, { headers: { Metadata: 'true' } });
      expect(refused.status).to.equal(403);

      child.kill('SIGINT');
      const result = await child;
      expect(result.exitCode, String(result.stderr)).to.equal(0);
      expect(isProcessAlive(child.pid!)).to.equal(false);

      const lines = (await readFile(accessLog, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines.map((line) => line.status)).to.deep.equal([200, 200, 403]);
      const everything = `${await readFile(accessLog, 'utf8')}${String(result.stdout)}${String(result.stderr)}`;
      for (const secret of [...emulator.issuedAccessTokens, ...emulator.issuedSecrets]) {
        expect(everything.includes(secret), 'a secret reached the log or output').to.equal(false);
      }
    });

    it('a listen port in use: one clear line and exit 5', async () => {
      const blocker: Server = createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      const port = (blocker.address() as { port: number }).port;
      try {
        const result = await runCli(['serve', '--listen', `127.0.0.1:${port}`, '--himds', emulator.url, '--token-dir', emulator.tokenDirectory]);
        expect(result.exitCode, String(result.stderr)).to.equal(EXIT_CODES.proxyFailed);
        expect(String(result.stderr)).to.match(new RegExp(`127\\.0\\.0\\.1:${port}.*(in use|EADDRINUSE)`, 'i'));
      } finally {
        blocker.close();
      }
    });

    it('malformed options: exit 2 naming the option', async () => {
      for (const [args, pattern] of [
        [['serve', '--listen', '127.0.0.1'], /--listen must be HOST:PORT/],
        [['serve', '--himds', 'ftp://x'], /--himds must be an http\(s\) URL/],
        [['serve', '--upstream-timeout', '-5'], /--upstream-timeout must be a positive number/],
        [['serve', '--listen', '127.0.0.1:99999'], /--listen must be HOST:PORT/],
      ] as const) {
        const result = await runCli([...args]);
        expect(result.exitCode, `${args.join(' ')}: ${String(result.stderr)}`).to.equal(EXIT_CODES.usage);
        expect(String(result.stderr)).to.match(pattern);
      }
    });

    it('a malformed IMDS_ENDPOINT from the environment: exit 2 naming the variable, nothing started', async () => {
      const result = await runCli(['serve', '--listen', '127.0.0.1:0'], { IMDS_ENDPOINT: 'localhost:40342' });
      expect(result.exitCode, String(result.stderr)).to.equal(EXIT_CODES.usage);
      expect(String(result.stderr)).to.include('IMDS_ENDPOINT expects an http(s) URL');
      expect(String(result.stdout)).to.not.include('listening on');
    });
  });

  describe('join options', () => {
    it('a handler version with no known download URL: exit 2 naming the known ones, nothing written', async () => {
      const workdir = join(root, 'work');
      const result = await runCli(['join', '--workdir', workdir, '--handler-version', '9.9.9.9', '--listen', '127.0.0.1:0', '--no-outbound-check']);
      expect(result.exitCode, String(result.stderr)).to.equal(EXIT_CODES.usage);
      expect(String(result.stderr)).to.include('No download URL is known for Microsoft.Azure.ActiveDirectory.AADLoginForWindows 9.9.9.9 (known: 1.1.0.2)');
      expect(String(result.stderr)).to.include('--handler-url');
      expect(existsSync(workdir)).to.equal(false);
    });
  });

  describe('doctor', () => {
    const loopbackDoctor = (extra: string[] = []) => [
      'doctor', '--listen', '127.0.0.1:0', '--himds', emulator.url, '--token-dir', emulator.tokenDirectory,
      '--workdir', root, '--no-outbound-check', ...extra,
    ];

    it('--json against a healthy HIMDS: every check reported, nothing failed, exit 0, no secret printed', async () => {
      const result = await runCli(loopbackDoctor(['--json']));
      expect(result.exitCode, String(result.stderr)).to.equal(0);
      const report = JSON.parse(String(result.stdout)) as { ok: boolean; checks: { id: string; outcome: string; detail: string }[] };
      expect(report.ok).to.equal(true);
      expect(report.checks.map((check) => check.id)).to.have.members([
        'operating-system', 'elevated', 'node-version', 'arc-agent', 'himds', 'metadata-address', 'entra-join', 'outbound', 'work-folder',
      ]);
      expect(report.checks.find((check) => check.id === 'himds')).to.include({ outcome: 'pass' });
      expect(report.checks.find((check) => check.id === 'himds')?.detail).to.include(emulator.machine.machineName);
      expect(emulator.issuedAccessTokens.length).to.be.greaterThan(0);
      for (const secret of [...emulator.issuedAccessTokens, ...emulator.issuedSecrets]) {
        expect(String(result.stdout).includes(secret), 'a secret was printed').to.equal(false);
      }
    });

    it('HIMDS down: a table naming the failed check and its fix, exit 3', async () => {
      await emulator.suspend();
      const result = await runCli(loopbackDoctor());
      expect(result.exitCode, String(result.stderr)).to.equal(EXIT_CODES.preflightFailed);
      expect(String(result.stdout)).to.match(/HIMDS and token/);
      expect(String(result.stdout)).to.match(/fail/i);
      expect(String(result.stdout)).to.match(/himds/);
      await emulator.resume();
    });
  });
});
