// The real DoctorContext: DNS, TCP, package.json, statfs, ps-list, and HIMDS through a real proxy to the emulator.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDoctorContext } from '../../../orchestrator/doctor/context.js';
import { himdsCheck } from '../../../orchestrator/doctor/checks/himds.js';
import { canOpenTcpConnection, resolveHostAddresses } from '../../../orchestrator/doctor/network-probes.js';
import { requiredNodeRange } from '../../../orchestrator/doctor/package-engines.js';
import { HimdsproxyError } from '../../../orchestrator/errors.js';
import { MemoryReporter } from '../../../orchestrator/reporter.js';
import { HimdsEmulator } from '../../support/himds-emulator.js';
import { fakePlatform } from './fake-context.js';

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

describe('doctor network probes (loopback only)', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  it('resolves localhost to a loopback address', async () => {
    const addresses = await resolveHostAddresses('localhost');
    expect(addresses.some((address) => address === '::1' || address.startsWith('127.'))).to.equal(true);
  });

  it('connects to a listening port and closes the connection at once', async () => {
    let accepted = 0;
    server = createServer((socket) => { accepted++; socket.on('error', () => undefined); });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    expect(await canOpenTcpConnection('127.0.0.1', port, 2_000)).to.equal(true);
    expect(accepted).to.equal(1);
  });

  it('says false for a closed port', async () => {
    server = createServer();
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    expect(await canOpenTcpConnection('127.0.0.1', port, 2_000)).to.equal(false);
  });
});

describe('requiredNodeRange', () => {
  let root: string;
  beforeEach(async () => { root = await mkdtemp(join(tmpdir(), 'himdsproxy-doctor-engines-')); });
  afterEach(async () => { await rm(root, { recursive: true, force: true }); });

  it("reads this project's engines.node", () => {
    expect(requiredNodeRange()).to.equal('>=20.19');
  });

  it('walks up from dist/orchestrator/doctor past other and broken package.json files', async () => {
    const start = join(root, 'pkg', 'dist', 'orchestrator', 'doctor');
    await mkdir(start, { recursive: true });
    await writeFile(join(root, 'pkg', 'package.json'), JSON.stringify({ name: 'himdsproxy', engines: { node: '>=22.1' } }));
    await writeFile(join(root, 'pkg', 'dist', 'package.json'), JSON.stringify({ type: 'module' }));
    await writeFile(join(root, 'pkg', 'dist', 'orchestrator', 'package.json'), '{ not json');
    expect(requiredNodeRange(start)).to.equal('>=22.1');
  });

  it('throws when engines.node is missing or there is no himdsproxy package.json', async () => {
    await writeFile(join(root, 'package.json'), JSON.stringify({ name: 'himdsproxy' }));
    expect(() => requiredNodeRange(root)).to.throw(/no engines\.node/);
    await writeFile(join(root, 'package.json'), JSON.stringify({ name: 'something-else' }));
    expect(() => requiredNodeRange(root)).to.throw(/No package.json named himdsproxy/);
  });
});

describe('createDoctorContext', () => {
  let workdir: string;
  beforeEach(async () => { workdir = await mkdtemp(join(tmpdir(), 'himdsproxy-doctor-context-')); });
  afterEach(async () => { await rm(workdir, { recursive: true, force: true }); });

  const options = () => ({ platform: fakePlatform({ name: 'linux' }), workdir, listen: '127.0.0.1:0', himdsUrl: 'http://127.0.0.1:1', tokenDirectory: workdir, force: false });

  it('rejects a malformed --listen as a usage error', () => {
    for (const listen of ['169.254.169.254', ':80', 'host:99999', '']) {
      const error = (() => { try { createDoctorContext({ ...options(), listen }); } catch (caught) { return caught; } return undefined; })();
      expect(error, listen).to.be.instanceOf(HimdsproxyError);
      expect((error as HimdsproxyError).exitCode).to.equal(2);
    }
  });

  it('reads this process, this Node.js and the free space of a real folder', async () => {
    const context = createDoctorContext({ ...options(), listen: '[::1]:8080', env: { IMDS_ENDPOINT: 'http://x' } });
    expect(context.listen).to.deep.equal({ host: '::1', port: 8080 });
    expect(context.nodeVersion).to.equal(process.versions.node);
    expect(context.requiredNodeRange).to.equal('>=20.19');
    expect(context.env).to.deep.equal({ IMDS_ENDPOINT: 'http://x' });
    expect((await context.processList()).some((entry) => entry.pid === process.pid)).to.equal(true);
    expect(await context.freeBytes(workdir)).to.be.greaterThan(0);
  });

  describe('probeHimds through the real proxy to the HIMDS emulator', function () {
    let emulator: HimdsEmulator | undefined;
    before(function () {
      if (!existsSync(join(projectRoot, 'core', 'main.ts'))) this.skip();
    });
    afterEach(async () => { await emulator?.stop(); emulator = undefined; });

    it('reads the machine and gets a token without ever showing it', async () => {
      emulator = await HimdsEmulator.start({ tokenDirectory: join(workdir, 'Tokens') });
      const reporter = new MemoryReporter();
      const context = createDoctorContext({ ...options(), himdsUrl: emulator.url, tokenDirectory: emulator.tokenDirectory, reporter });
      const probe = await context.probeHimds();
      expect(probe).to.deep.equal({ machineName: 'arc-win-01', resourceGroup: 'rg-arc-servers', location: 'westeurope', tokenObtained: true });
      const result = await himdsCheck.run(context);
      expect(result.outcome).to.equal('pass');
      const everything = `${JSON.stringify(probe)}${JSON.stringify(result)}${reporter.text()}`;
      expect(emulator.issuedAccessTokens.length).to.be.greaterThan(0);
      for (const secret of [...emulator.issuedAccessTokens, ...emulator.issuedSecrets]) expect(everything.includes(secret)).to.equal(false);
    });

    it('fails the check with service advice when HIMDS is down', async () => {
      emulator = await HimdsEmulator.start({ tokenDirectory: join(workdir, 'Tokens') });
      await emulator.suspend();
      const context = createDoctorContext({ ...options(), himdsUrl: emulator.url, tokenDirectory: emulator.tokenDirectory });
      const result = await himdsCheck.run(context);
      expect(result.outcome).to.equal('fail');
      expect(result.fix).to.contain('systemctl');
    });
  });
});
