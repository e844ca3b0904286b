// The Windows platform adapter: loopback address (PowerShell to read, netsh to change), elevation, Entra join state, OS.
import { PlatformCommandError, UnexpectedCommandOutputError, describeCommand } from './command-failure.js';
import type { CommandResult, CommandRunner, PlatformAdapter } from './types.js';
import * as commands from './windows-commands.js';
import type { CommandLine } from './windows-commands.js';
import {
  parseDsregcmdStatus,
  parseNetIPAddressJson,
  parseOperatingSystemJson,
  parsePowerShellBoolean,
  type NetIPAddressEntry,
} from './windows-output.js';

/** A cold PowerShell start with the NetTCPIP module can take several seconds on a small server. */
const POWERSHELL_TIMEOUT_MS = 30_000;
const NETSH_TIMEOUT_MS = 15_000;
const DSREGCMD_TIMEOUT_MS = 30_000;

const ADMINISTRATOR_FIX = 'Run as Administrator: adding 169.254.169.254 to the loopback interface needs it';

export function createWindowsAdapter(runner: CommandRunner): PlatformAdapter {
  async function run(command: CommandLine, timeoutMs: number, fix: string): Promise<CommandResult> {
    const result = await runner.run(command.file, command.args, { timeoutMs });
    if (result.timedOut || result.exitCode !== 0) {
      throw new PlatformCommandError(command.file, command.args, result, fix, timeoutMs);
    }
    return result;
  }

  /** Runs a reading command and parses its output; output the parser does not recognise is an error naming what was expected. */
  async function read<T>(command: CommandLine, timeoutMs: number, fix: string, parse: (stdout: string) => T | undefined, expected: string): Promise<T> {
    const result = await run(command, timeoutMs, fix);
    const parsed = parse(result.stdout);
    if (parsed === undefined) throw new UnexpectedCommandOutputError(describeCommand(command.file, command.args), expected, result.stdout);
    return parsed;
  }

  async function findAddress(address: string): Promise<NetIPAddressEntry[]> {
    const entries = await read(
      commands.findIpv4Address(address),
      POWERSHELL_TIMEOUT_MS,
      'Check that PowerShell and its NetTCPIP module (Get-NetIPAddress) work on this machine.',
      parseNetIPAddressJson,
      'Get-NetIPAddress rows as JSON',
    );
    return entries.filter((entry) => entry.ipAddress === address);
  }

  async function loopbackInterfaceIndex(): Promise<number> {
    const [loopback] = await findAddress(commands.LOOPBACK_ANCHOR_ADDRESS);
    if (loopback === undefined) {
      throw new UnexpectedCommandOutputError(
        describeCommand(commands.POWERSHELL, commands.findIpv4Address(commands.LOOPBACK_ANCHOR_ADDRESS).args),
        `an interface holding ${commands.LOOPBACK_ANCHOR_ADDRESS} (the loopback pseudo-interface)`,
        '',
      );
    }
    return loopback.interfaceIndex;
  }

  return {
    name: 'windows',

    async hasLoopbackAddress(address) {
      return (await findAddress(address)).length > 0;
    },

    async addLoopbackAddress(address) {
      const interfaceIndex = await loopbackInterfaceIndex();
      await run(commands.addLoopbackAddress(address, interfaceIndex), NETSH_TIMEOUT_MS, ADMINISTRATOR_FIX);
    },

    /** Removes the address wherever it is; absent already is fine, so teardown can call it safely. */
    async removeLoopbackAddress(address) {
      const interfaces = new Set((await findAddress(address)).map((entry) => entry.interfaceIndex));
      for (const interfaceIndex of interfaces) {
        await run(
          commands.removeLoopbackAddress(address, interfaceIndex),
          NETSH_TIMEOUT_MS,
          `Run as Administrator, or remove it by hand: netsh interface ipv4 delete address name=${interfaceIndex} address=${address}`,
        );
      }
    },

    isElevated() {
      return read(commands.isElevated, POWERSHELL_TIMEOUT_MS, 'Check that Windows PowerShell (powershell.exe) runs on this machine.', parsePowerShellBoolean, 'True or False');
    },

    entraJoinState() {
      return read(
        commands.entraJoinStatus,
        DSREGCMD_TIMEOUT_MS,
        'Run "dsregcmd /status" yourself: it ships with Windows Server 2016 / Windows 10 and later.',
        parseDsregcmdStatus,
        'a Device State section with AzureAdJoined',
      );
    },

    operatingSystem() {
      return read(
        commands.operatingSystem,
        POWERSHELL_TIMEOUT_MS,
        'Check that Get-CimInstance Win32_OperatingSystem works (the WMI service must be running).',
        parseOperatingSystemJson,
        'one Win32_OperatingSystem object with Caption, Version, BuildNumber and ProductType as JSON',
      );
    },
  };
}
