// The Windows adapter with recorded tool outputs: exact commands run, parsing of each fixture, failures.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT_CODES, HimdsproxyError } from '../../../orchestrator/errors.js';
import { PlatformCommandError } from '../../../orchestrator/platform/command-failure.js';
import * as commands from '../../../orchestrator/platform/windows-commands.js';
import { parseDsregcmdStatus, parseNetIPAddressJson, parseOperatingSystemJson } from '../../../orchestrator/platform/windows-output.js';
import { createWindowsAdapter } from '../../../orchestrator/platform/windows.js';
import { RecordedCommandRunner } from '../../support/recorded-command-runner.js';
import { rejectionOf } from '../../support/rejection.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'windows');
const fixture = (name: string): string => readFileSync(join(fixtures, name), 'utf8');

const IMDS = '169.254.169.254';
const POWERSHELL_PREFIX = ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command'];
const UTF8 = '[Console]::OutputEncoding = [System.Text.Encoding]::UTF8; ';
const findScript = (address: string): string =>
  `${UTF8}$ErrorActionPreference = 'Stop'; Get-NetIPAddress -AddressFamily IPv4 | Where-Object IPAddress -eq '${address}' | ` +
  'Select-Object IPAddress,InterfaceIndex,InterfaceAlias,PrefixLength,SkipAsSource,PolicyStore | ConvertTo-Json';
const find = (address: string): [string, string[]] => ['powershell.exe', [...POWERSHELL_PREFIX, findScript(address)]];
const netshAdd = (index: number): [string, string[]] => [
  'netsh.exe',
  ['interface', 'ipv4', 'add', 'address', `name=${index}`, `address=${IMDS}`, 'mask=255.255.255.255', 'store=active', 'skipassource=true'],
];
const netshDelete = (index: number): [string, string[]] => [
  'netsh.exe',
  ['interface', 'ipv4', 'delete', 'address', `name=${index}`, `address=${IMDS}`, 'store=active'],
];
const ELEVATED_SCRIPT =
  `${UTF8}([Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)`;
const OS_SCRIPT =
  `${UTF8}$ErrorActionPreference = 'Stop'; Get-CimInstance Win32_OperatingSystem | Select-Object Caption,Version,BuildNumber,ProductType | ConvertTo-Json`;

function callsOf(runner: RecordedCommandRunner): [string, string[]][] {
  return runner.calls.map((call) => [call.file, call.args]);
}


describe('windows platform adapter', () => {
  describe('command builders', () => {
    it('never put a double quote into a -Command script', () => {
      for (const line of [commands.findIpv4Address(IMDS), commands.isElevated, commands.operatingSystem]) {
        expect(line.args.join(' ').includes('"')).to.equal(false);
      }
      expect(() => commands.powershell('Write-Output "x"')).to.throw(/double quotes/);
    });

    it('refuse anything but an IPv4 literal in a command line', () => {
      for (const hostile of ["169.254.169.254'; Remove-Item C:\\ -Recurse; '", '169.254.169.254 ', '1.2.3', '256.1.1.1', '01.2.3.4', '']) {
        expect(() => commands.findIpv4Address(hostile), hostile).to.throw(/IPv4/);
        expect(() => commands.addLoopbackAddress(hostile, 1), hostile).to.throw(/IPv4/);
        expect(() => commands.removeLoopbackAddress(hostile, 1), hostile).to.throw(/IPv4/);
      }
      expect(() => commands.addLoopbackAddress(IMDS, -1)).to.throw(/interface index/);
      expect(() => commands.addLoopbackAddress(IMDS, 1.5)).to.throw(/interface index/);
    });
  });

  describe('hasLoopbackAddress', () => {
    it('runs Get-NetIPAddress through PowerShell and reads one object', async () => {
      const runner = new RecordedCommandRunner().on(...find(IMDS), { stdout: fixture('get-netipaddress-single.json') });
      expect(await createWindowsAdapter(runner).hasLoopbackAddress(IMDS)).to.equal(true);
      expect(callsOf(runner)).to.deep.equal([find(IMDS)]);
      expect(runner.calls[0]!.options?.timeoutMs).to.be.a('number');
    });

    it('reads an array of rows', async () => {
      const runner = new RecordedCommandRunner().on(...find(IMDS), { stdout: fixture('get-netipaddress-array.json') });
      expect(await createWindowsAdapter(runner).hasLoopbackAddress(IMDS)).to.equal(true);
    });

    it('reads empty output as absent', async () => {
      const runner = new RecordedCommandRunner().on(...find(IMDS), { stdout: fixture('get-netipaddress-empty.txt') }, { stdout: '\r\n' });
      const adapter = createWindowsAdapter(runner);
      expect(await adapter.hasLoopbackAddress(IMDS)).to.equal(false);
      expect(await adapter.hasLoopbackAddress(IMDS)).to.equal(false);
    });

    it('ignores rows for another address', async () => {
      const runner = new RecordedCommandRunner().on(...find(IMDS), { stdout: fixture('get-netipaddress-loopback.json') });
      expect(await createWindowsAdapter(runner).hasLoopbackAddress(IMDS)).to.equal(false);
    });

    it('turns output that is not Get-NetIPAddress JSON into a clear error', async () => {
      for (const stdout of ['not json', '{"IPAddress": 5}', '[1, 2]', '"169.254.169.254"', '{"InterfaceIndex": 1}']) {
        const runner = new RecordedCommandRunner().on(...find(IMDS), { stdout });
        const error = await rejectionOf(createWindowsAdapter(runner).hasLoopbackAddress(IMDS), HimdsproxyError);
        expect(error.message, stdout).to.match(/^Unexpected output from powershell\.exe .*expected Get-NetIPAddress rows as JSON/s);
        expect(error.exitCode).to.equal(EXIT_CODES.preflightFailed);
      }
    });

    it('reports a PowerShell failure with the command, exit code and first stderr line', async () => {
      const runner = new RecordedCommandRunner().on(...find(IMDS), { exitCode: 1, stderr: fixture('get-netipaddress-module-missing.stderr.txt') });
      const error = await rejectionOf(createWindowsAdapter(runner).hasLoopbackAddress(IMDS), HimdsproxyError);
      expect(error).to.be.instanceOf(PlatformCommandError);
      expect(error.message).to.match(/^Command failed with exit code 1: powershell\.exe -NoProfile/);
      expect(error.message).to.include("Get-NetIPAddress : The term 'Get-NetIPAddress' is not recognized");
      expect(error.message).not.to.include('CategoryInfo');
      expect((error as PlatformCommandError).commandExitCode).to.equal(1);
      expect(error.fix).to.match(/NetTCPIP/);
    });

    it('reports a timeout as such', async () => {
      const runner = new RecordedCommandRunner().on(...find(IMDS), { exitCode: -1, timedOut: true });
      const error = (await rejectionOf(createWindowsAdapter(runner).hasLoopbackAddress(IMDS), HimdsproxyError)) as PlatformCommandError;
      expect(error.timedOut).to.equal(true);
      expect(error.message).to.match(/^Command timed out after \d+ milliseconds: powershell\.exe/);
    });
  });

  describe('addLoopbackAddress', () => {
    it('finds the loopback interface by its 127.0.0.1 address, then adds a /32 with netsh, active store, skip-as-source', async () => {
      const runner = new RecordedCommandRunner()
        .on(...find('127.0.0.1'), { stdout: fixture('get-netipaddress-loopback.json') })
        .on(...netshAdd(1), { stdout: fixture('netsh-ok.txt') });
      await createWindowsAdapter(runner).addLoopbackAddress(IMDS);
      expect(callsOf(runner)).to.deep.equal([find('127.0.0.1'), netshAdd(1)]);
    });

    it('uses whatever index the loopback interface has (localized alias, index 14)', async () => {
      const runner = new RecordedCommandRunner()
        .on(...find('127.0.0.1'), { stdout: fixture('get-netipaddress-loopback-localized.json') })
        .on(...netshAdd(14), {});
      await createWindowsAdapter(runner).addLoopbackAddress(IMDS);
      expect(callsOf(runner)).to.deep.equal([find('127.0.0.1'), netshAdd(14)]);
    });

    it('says to run as Administrator when netsh is refused', async () => {
      const runner = new RecordedCommandRunner()
        .on(...find('127.0.0.1'), { stdout: fixture('get-netipaddress-loopback.json') })
        .on(...netshAdd(1), { exitCode: 1, stdout: fixture('netsh-requires-elevation.txt') });
      const error = await rejectionOf(createWindowsAdapter(runner).addLoopbackAddress(IMDS), HimdsproxyError);
      expect(error.message).to.equal(
        'Command failed with exit code 1: netsh.exe interface ipv4 add address name=1 address=169.254.169.254 mask=255.255.255.255 store=active skipassource=true\n' +
          'The requested operation requires elevation (Run as administrator).',
      );
      expect(error.fix).to.equal('Run as Administrator: adding 169.254.169.254 to the loopback interface needs it');
      expect(error.exitCode).to.equal(EXIT_CODES.preflightFailed);
    });

    it('does not hide "The object already exists."', async () => {
      const runner = new RecordedCommandRunner()
        .on(...find('127.0.0.1'), { stdout: fixture('get-netipaddress-loopback.json') })
        .on(...netshAdd(1), { exitCode: 1, stdout: fixture('netsh-object-already-exists.txt') });
      const error = await rejectionOf(createWindowsAdapter(runner).addLoopbackAddress(IMDS), HimdsproxyError);
      expect(error.message).to.match(/exit code 1: netsh\.exe .*\nThe object already exists\.$/);
    });

    it('refuses to guess when no interface holds 127.0.0.1', async () => {
      const runner = new RecordedCommandRunner().on(...find('127.0.0.1'), { stdout: '' });
      const error = await rejectionOf(createWindowsAdapter(runner).addLoopbackAddress(IMDS), HimdsproxyError);
      expect(error.message).to.match(/expected an interface holding 127\.0\.0\.1/);
      expect(runner.calls).to.have.length(1);
    });
  });

  describe('removeLoopbackAddress', () => {
    it('deletes the address from the interface that holds it', async () => {
      const runner = new RecordedCommandRunner()
        .on(...find(IMDS), { stdout: fixture('get-netipaddress-single.json') })
        .on(...netshDelete(1), {});
      await createWindowsAdapter(runner).removeLoopbackAddress(IMDS);
      expect(callsOf(runner)).to.deep.equal([find(IMDS), netshDelete(1)]);
    });

    it('deletes it from every interface holding it', async () => {
      const runner = new RecordedCommandRunner()
        .on(...find(IMDS), { stdout: fixture('get-netipaddress-array.json') })
        .on(...netshDelete(1), {})
        .on(...netshDelete(6), {});
      await createWindowsAdapter(runner).removeLoopbackAddress(IMDS);
      expect(callsOf(runner)).to.deep.equal([find(IMDS), netshDelete(1), netshDelete(6)]);
    });

    it('does nothing when the address is already gone', async () => {
      const runner = new RecordedCommandRunner().on(...find(IMDS), { stdout: '' });
      await createWindowsAdapter(runner).removeLoopbackAddress(IMDS);
      expect(callsOf(runner)).to.deep.equal([find(IMDS)]);
    });

    it('reports a refused delete with a by-hand fix', async () => {
      const runner = new RecordedCommandRunner()
        .on(...find(IMDS), { stdout: fixture('get-netipaddress-single.json') })
        .on(...netshDelete(1), { exitCode: 1, stdout: fixture('netsh-element-not-found.txt') });
      const error = await rejectionOf(createWindowsAdapter(runner).removeLoopbackAddress(IMDS), HimdsproxyError);
      expect(error.message).to.match(/exit code 1: netsh\.exe interface ipv4 delete address name=1 address=169\.254\.169\.254 store=active\nElement not found\.$/);
      expect(error.fix).to.include('netsh interface ipv4 delete address name=1 address=169.254.169.254');
    });
  });

  describe('isElevated', () => {
    it('asks the current token whether it is in the Administrators role', async () => {
      const runner = new RecordedCommandRunner()
        .on('powershell.exe', [...POWERSHELL_PREFIX, ELEVATED_SCRIPT], { stdout: fixture('powershell-true.txt') }, { stdout: fixture('powershell-false.txt') });
      const adapter = createWindowsAdapter(runner);
      expect(await adapter.isElevated()).to.equal(true);
      expect(await adapter.isElevated()).to.equal(false);
      expect(runner.unusedAnswers()).to.deep.equal([]);
    });

    it('rejects anything but True/False', async () => {
      const runner = new RecordedCommandRunner().on('powershell.exe', [...POWERSHELL_PREFIX, ELEVATED_SCRIPT], { stdout: 'Yes' });
      const error = await rejectionOf(createWindowsAdapter(runner).isElevated(), HimdsproxyError);
      expect(error.message).to.match(/expected True or False, got "Yes"/);
    });

    it('reports powershell.exe missing (exit 127 from the runner)', async () => {
      const runner = new RecordedCommandRunner().on('powershell.exe', [...POWERSHELL_PREFIX, ELEVATED_SCRIPT], { exitCode: 127, stderr: 'spawn powershell.exe ENOENT' });
      const error = await rejectionOf(createWindowsAdapter(runner).isElevated(), HimdsproxyError);
      expect(error.message).to.match(/exit code 127: powershell\.exe .*\nspawn powershell\.exe ENOENT$/s);
    });
  });

  describe('entraJoinState', () => {
    it('runs dsregcmd /status and reads a joined machine', async () => {
      const runner = new RecordedCommandRunner().on('dsregcmd.exe', ['/status'], { stdout: fixture('dsregcmd-status-joined.txt') });
      expect(await createWindowsAdapter(runner).entraJoinState()).to.deep.equal({
        joined: true,
        deviceId: '5f3c9a2e-8b41-4d7a-9c0e-2a6b1d4e7f93',
        tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
        tenantName: 'Contoso',
      });
      expect(callsOf(runner)).to.deep.equal([['dsregcmd.exe', ['/status']]]);
    });

    it('reads a machine that is not joined', async () => {
      const runner = new RecordedCommandRunner().on('dsregcmd.exe', ['/status'], { stdout: fixture('dsregcmd-status-not-joined.txt') });
      expect(await createWindowsAdapter(runner).entraJoinState()).to.deep.equal({ joined: false });
    });

    it('refuses to read garbage or an empty answer as "not joined"', async () => {
      for (const stdout of ['', 'Usage: dsregcmd /status', '+---+\r\n| Device State |\r\n+---+\r\n']) {
        const runner = new RecordedCommandRunner().on('dsregcmd.exe', ['/status'], { stdout });
        const error = await rejectionOf(createWindowsAdapter(runner).entraJoinState(), HimdsproxyError);
        expect(error.message).to.match(/Unexpected output from dsregcmd\.exe \/status: expected a Device State section with AzureAdJoined/);
      }
    });

    it('reports dsregcmd failing', async () => {
      const runner = new RecordedCommandRunner().on('dsregcmd.exe', ['/status'], { exitCode: 1, stderr: 'Access is denied.\r\n' });
      const error = await rejectionOf(createWindowsAdapter(runner).entraJoinState(), HimdsproxyError);
      expect(error.message).to.equal('Command failed with exit code 1: dsregcmd.exe /status\nAccess is denied.');
    });
  });

  describe('operatingSystem', () => {
    const cases: [string, { productName: string; version: string; build: number; isWindowsServer: boolean }][] = [
      ['win32-os-server-2019.json', { productName: 'Microsoft Windows Server 2019 Datacenter', version: '10.0.17763', build: 17763, isWindowsServer: true }],
      ['win32-os-server-2022.json', { productName: 'Microsoft Windows Server 2022 Standard', version: '10.0.20348', build: 20348, isWindowsServer: true }],
      ['win32-os-server-2025.json', { productName: 'Microsoft Windows Server 2025 Datacenter', version: '10.0.26100', build: 26100, isWindowsServer: true }],
      ['win32-os-windows-11-24h2.json', { productName: 'Microsoft Windows 11 Enterprise', version: '10.0.26100', build: 26100, isWindowsServer: false }],
      ['win32-os-domain-controller-2016.json', { productName: 'Microsoft Windows Server 2016 Standard', version: '10.0.14393', build: 14393, isWindowsServer: true }],
    ];
    for (const [file, expected] of cases) {
      it(`reads ${file}`, async () => {
        const runner = new RecordedCommandRunner().on('powershell.exe', [...POWERSHELL_PREFIX, OS_SCRIPT], { stdout: fixture(file) });
        expect(await createWindowsAdapter(runner).operatingSystem()).to.deep.equal({ platform: 'win32', ...expected });
      });
    }

    it('rejects malformed Win32_OperatingSystem JSON', async () => {
      for (const stdout of ['', '{', '[]', '{"Caption": "Windows"}', '{"Caption":"x","Version":"10.0.1","BuildNumber":"1","ProductType":"3"}', '[{"Caption":"a","Version":"1","ProductType":1},{"Caption":"b","Version":"1","ProductType":1}]']) {
        const runner = new RecordedCommandRunner().on('powershell.exe', [...POWERSHELL_PREFIX, OS_SCRIPT], { stdout });
        const error = await rejectionOf(createWindowsAdapter(runner).operatingSystem(), HimdsproxyError);
        expect(error.message, stdout).to.match(/expected one Win32_OperatingSystem object/);
      }
    });
  });

  describe('parsers on their own', () => {
    it('parseNetIPAddressJson keeps the fields it knows', () => {
      expect(parseNetIPAddressJson(fixture('get-netipaddress-single.json'))).to.deep.equal([
        { ipAddress: IMDS, interfaceIndex: 1, interfaceAlias: 'Loopback Pseudo-Interface 1', prefixLength: 32, skipAsSource: true, policyStore: 'ActiveStore' },
      ]);
      expect(parseNetIPAddressJson('\uFEFF')).to.deep.equal([]);
      expect(parseNetIPAddressJson('null')).to.equal(undefined);
    });

    it('parseDsregcmdStatus copes with LF endings, odd padding and lower-case values', () => {
      expect(parseDsregcmdStatus('AzureAdJoined:YES\n')).to.equal(undefined);
      expect(parseDsregcmdStatus('| Device State |\n     AzureAdJoined : yes\n| Device Details |\nDeviceId : abc\n')).to.deep.equal({ joined: true, deviceId: 'abc' });
    });

    it('parseOperatingSystemJson falls back to the build in Version when BuildNumber is missing', () => {
      expect(parseOperatingSystemJson('{"Caption":"Microsoft Windows Server 2022 Standard","Version":"10.0.20348","ProductType":3}')?.build).to.equal(20348);
    });
  });
});
