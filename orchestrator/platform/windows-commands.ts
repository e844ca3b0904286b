// The exact Windows command lines the Windows adapter runs: pure builders, tested as a table.
import { assertIpv4Address } from './ip-address.js';

export interface CommandLine {
  file: string;
  args: string[];
}

export const POWERSHELL = 'powershell.exe';
export const POWERSHELL_OPTIONS = ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command'] as const;

/**
 * Node would decode PowerShell's output as UTF-8 while PowerShell writes the console code page;
 * switching the output encoding first keeps localized names (interface aliases, captions) intact.
 */
const UTF8_OUTPUT = '[Console]::OutputEncoding = [System.Text.Encoding]::UTF8';

/**
 * Scripts are passed as one argument to -Command, so they must not contain double quotes (Windows
 * argument quoting would mangle them): every string literal inside uses single quotes.
 */
export function powershell(script: string): CommandLine {
  if (script.includes('"')) throw new Error('PowerShell scripts passed to -Command must not contain double quotes');
  return { file: POWERSHELL, args: [...POWERSHELL_OPTIONS, `${UTF8_OUTPUT}; ${script}`] };
}

/**
 * Lists every IPv4 address and filters here rather than `Get-NetIPAddress -IPAddress X`, which
 * reports "not found" as an error: that way an absent address is empty output with exit code 0,
 * and a real failure (missing module, broken WMI) still stops with a non-zero exit code.
 */
export function findIpv4Address(address: string): CommandLine {
  assertIpv4Address(address);
  return powershell(
    "$ErrorActionPreference = 'Stop'; " +
      `Get-NetIPAddress -AddressFamily IPv4 | Where-Object IPAddress -eq '${address}' | ` +
      'Select-Object IPAddress,InterfaceIndex,InterfaceAlias,PrefixLength,SkipAsSource,PolicyStore | ConvertTo-Json',
  );
}

/**
 * The loopback pseudo-interface is the one holding 127.0.0.1. Finding it that way works whatever its
 * (possibly localized) alias and index are, instead of assuming "Loopback Pseudo-Interface 1" / index 1.
 */
export const LOOPBACK_ANCHOR_ADDRESS = '127.0.0.1';

/**
 * netsh rather than New-NetIPAddress for changes: it is the documented way to put the metadata address on
 * the loopback interface, starts in a fraction of PowerShell's time, and maps one-to-one onto what we want:
 * /32, active store only (gone after a reboot), never chosen as a source address. `name=` takes an index.
 */
export function addLoopbackAddress(address: string, interfaceIndex: number): CommandLine {
  assertIpv4Address(address);
  assertInterfaceIndex(interfaceIndex);
  return {
    file: 'netsh.exe',
    args: ['interface', 'ipv4', 'add', 'address', `name=${interfaceIndex}`, `address=${address}`, 'mask=255.255.255.255', 'store=active', 'skipassource=true'],
  };
}

export function removeLoopbackAddress(address: string, interfaceIndex: number): CommandLine {
  assertIpv4Address(address);
  assertInterfaceIndex(interfaceIndex);
  return {
    file: 'netsh.exe',
    args: ['interface', 'ipv4', 'delete', 'address', `name=${interfaceIndex}`, `address=${address}`, 'store=active'],
  };
}

/**
 * The token's role check rather than `net session`: `net session` also fails when the Server (LanmanServer)
 * service is stopped, which would report an elevated administrator as not elevated.
 */
export const isElevated: CommandLine = powershell(
  '([Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)',
);

export const entraJoinStatus: CommandLine = { file: 'dsregcmd.exe', args: ['/status'] };

export const operatingSystem: CommandLine = powershell(
  "$ErrorActionPreference = 'Stop'; Get-CimInstance Win32_OperatingSystem | Select-Object Caption,Version,BuildNumber,ProductType | ConvertTo-Json",
);

function assertInterfaceIndex(index: number): void {
  if (!Number.isSafeInteger(index) || index < 0) throw new Error(`Expected an interface index, got ${index}`);
}
