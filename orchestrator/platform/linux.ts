// The Linux platform adapter: the metadata address on `lo` with iproute2 (`ip -j` JSON), root check, OS name.
import { readFile } from 'node:fs/promises';
import { release } from 'node:os';
import { PlatformCommandError, UnexpectedCommandOutputError, describeCommand } from './command-failure.js';
import { assertIpv4Address } from './ip-address.js';
import type { CommandResult, CommandRunner, OperatingSystemInfo, PlatformAdapter } from './types.js';

const IP_TIMEOUT_MS = 10_000;
const ROOT_FIX = 'Run as root (sudo): adding 169.254.169.254 to the loopback interface needs it';

export const LINUX_LOOPBACK_DEVICE = 'lo';

export const linuxCommands = {
  /** Every interface, not just lo: an address anywhere on this machine answers locally. */
  listIpv4Addresses: { file: 'ip', args: ['-j', '-4', 'address', 'show'] },
  addAddress: (address: string) => {
    assertIpv4Address(address);
    return { file: 'ip', args: ['address', 'add', `${address}/32`, 'dev', LINUX_LOOPBACK_DEVICE] };
  },
  removeAddress: (address: string, device: string) => {
    assertIpv4Address(address);
    return { file: 'ip', args: ['address', 'del', `${address}/32`, 'dev', device] };
  },
};

/** Interfaces (by name) holding `address`, from `ip -j address show`; undefined when the JSON is not iproute2's. */
export function interfacesHoldingAddress(ipJson: string, address: string): string[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(ipJson);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  const devices: string[] = [];
  for (const link of parsed as unknown[]) {
    if (typeof link !== 'object' || link === null) return undefined;
    const { ifname, addr_info: addresses } = link as { ifname?: unknown; addr_info?: unknown };
    // Older iproute2 prints `{}` for interfaces a -4 filter left without addresses.
    if (addresses === undefined) continue;
    if (typeof ifname !== 'string' || !Array.isArray(addresses)) return undefined;
    const holds = addresses.some((entry: unknown) => typeof entry === 'object' && entry !== null && (entry as { local?: unknown }).local === address);
    if (holds) devices.push(ifname);
  }
  return devices;
}

/** PRETTY_NAME from an os-release file, which quotes values shell-style. */
export function prettyNameFromOsRelease(text: string): string | undefined {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (match) fields.set(match[1]!, match[2]!.replace(/^(["'])(.*)\1$/, '$2'));
  }
  return fields.get('PRETTY_NAME') ?? fields.get('NAME');
}

export interface LinuxAdapterOptions {
  /** Where to read the distribution's name; overridable for tests. */
  osReleaseFile?: string;
}

export function createLinuxAdapter(runner: CommandRunner, options: LinuxAdapterOptions = {}): PlatformAdapter {
  async function run(command: { file: string; args: string[] }, fix: string): Promise<CommandResult> {
    const result = await runner.run(command.file, command.args, { timeoutMs: IP_TIMEOUT_MS });
    if (result.timedOut || result.exitCode !== 0) {
      throw new PlatformCommandError(command.file, command.args, result, fix, IP_TIMEOUT_MS);
    }
    return result;
  }

  async function devicesHolding(address: string): Promise<string[]> {
    assertIpv4Address(address);
    const command = linuxCommands.listIpv4Addresses;
    const result = await run(command, 'Install iproute2 4.13 or later (the `ip` command with JSON output, -j).');
    const devices = interfacesHoldingAddress(result.stdout, address);
    if (devices === undefined) {
      throw new UnexpectedCommandOutputError(describeCommand(command.file, command.args), 'iproute2 JSON', result.stdout);
    }
    return devices;
  }

  return {
    name: 'linux',

    async hasLoopbackAddress(address) {
      return (await devicesHolding(address)).length > 0;
    },

    async addLoopbackAddress(address) {
      await run(linuxCommands.addAddress(address), ROOT_FIX);
    },

    /** Removes the address wherever it is; absent already is fine, so teardown can call it safely. */
    async removeLoopbackAddress(address) {
      for (const device of await devicesHolding(address)) {
        await run(linuxCommands.removeAddress(address, device), `Run as root, or remove it by hand: ip address del ${address}/32 dev ${device}`);
      }
    },

    async isElevated() {
      return process.getuid?.() === 0;
    },

    async entraJoinState() {
      return undefined;
    },

    async operatingSystem(): Promise<OperatingSystemInfo> {
      const osRelease = await readFile(options.osReleaseFile ?? '/etc/os-release', 'utf8').catch(() => '');
      return {
        platform: 'linux',
        productName: prettyNameFromOsRelease(osRelease) ?? 'Linux',
        version: release(),
        isWindowsServer: false,
      };
    },
  };
}
