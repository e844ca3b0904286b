// Reading what Windows tools print (PowerShell JSON, dsregcmd text): pure parsers, undefined when unrecognised.
import type { EntraJoinState, OperatingSystemInfo } from './types.js';

/** One row of `Get-NetIPAddress | Select-Object IPAddress,InterfaceIndex,…`. */
export interface NetIPAddressEntry {
  ipAddress: string;
  interfaceIndex: number;
  interfaceAlias?: string;
  prefixLength?: number;
  skipAsSource?: boolean;
  policyStore?: string;
}

/** ConvertTo-Json prints nothing for no rows, an object for one and an array for several. */
function jsonRows(text: string): Record<string, unknown>[] | undefined {
  const trimmed = text.replace(/^\uFEFF/, '').trim();
  if (trimmed === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    return undefined;
  }
  const rows = Array.isArray(parsed) ? parsed : [parsed];
  return rows.every((row) => typeof row === 'object' && row !== null && !Array.isArray(row))
    ? (rows as Record<string, unknown>[])
    : undefined;
}

export function parseNetIPAddressJson(text: string): NetIPAddressEntry[] | undefined {
  const rows = jsonRows(text);
  if (rows === undefined) return undefined;
  const entries: NetIPAddressEntry[] = [];
  for (const row of rows) {
    if (typeof row.IPAddress !== 'string' || typeof row.InterfaceIndex !== 'number') return undefined;
    entries.push({
      ipAddress: row.IPAddress,
      interfaceIndex: row.InterfaceIndex,
      ...(typeof row.InterfaceAlias === 'string' ? { interfaceAlias: row.InterfaceAlias } : {}),
      ...(typeof row.PrefixLength === 'number' ? { prefixLength: row.PrefixLength } : {}),
      ...(typeof row.SkipAsSource === 'boolean' ? { skipAsSource: row.SkipAsSource } : {}),
      ...(typeof row.PolicyStore === 'string' ? { policyStore: row.PolicyStore } : {}),
    });
  }
  return entries;
}

/** PowerShell prints a boolean as True or False. */
export function parsePowerShellBoolean(text: string): boolean | undefined {
  const value = text.trim().toLowerCase();
  if (value === 'true') return true;
  if (value === 'false') return false;
  return undefined;
}

/** Win32_OperatingSystem.ProductType: 1 workstation, 2 domain controller, 3 server. */
const WORKSTATION_PRODUCT_TYPE = 1;

export function parseOperatingSystemJson(text: string): OperatingSystemInfo | undefined {
  const rows = jsonRows(text);
  if (rows?.length !== 1) return undefined;
  const row = rows[0]!;
  const { Caption: caption, Version: version, BuildNumber: buildNumber, ProductType: productType } = row;
  if (typeof caption !== 'string' || typeof version !== 'string' || typeof productType !== 'number') return undefined;
  const build = Number.parseInt(String(buildNumber ?? version.split('.')[2] ?? ''), 10);
  return {
    platform: 'win32',
    productName: caption.trim(),
    version,
    ...(Number.isSafeInteger(build) ? { build } : {}),
    isWindowsServer: productType !== WORKSTATION_PRODUCT_TYPE,
  };
}

/**
 * `dsregcmd /status` prints sections under "| Device State |" banners, each line "   Key : Value"
 * right-aligned with varying padding. Keys and YES/NO are not translated. Returns undefined when the
 * text has no AzureAdJoined line at all, so garbage is never mistaken for "not joined".
 */
export function parseDsregcmdStatus(text: string): EntraJoinState | undefined {
  const sections = new Map<string, Map<string, string>>();
  let current = new Map<string, string>();
  sections.set('', current);
  for (const rawLine of text.replace(/^\uFEFF/, '').split(/\r?\n/)) {
    const banner = /^\s*\|\s*(.*?)\s*\|\s*$/.exec(rawLine);
    if (banner) {
      current = new Map();
      sections.set(banner[1]!.toLowerCase(), current);
      continue;
    }
    const field = /^\s*([A-Za-z][^:]*?)\s+:(?:\s(.*))?$/.exec(rawLine);
    if (field && !current.has(field[1]!)) current.set(field[1]!, (field[2] ?? '').trim());
  }
  const lookup = (section: string, key: string): string | undefined => {
    const value = sections.get(section)?.get(key) ?? [...sections.values()].find((fields) => fields.has(key))?.get(key);
    return value === undefined || value === '' ? undefined : value;
  };
  const azureAdJoined = lookup('device state', 'AzureAdJoined');
  if (azureAdJoined === undefined) return undefined;
  const deviceId = lookup('device details', 'DeviceId');
  const tenantId = lookup('tenant details', 'TenantId');
  const tenantName = lookup('tenant details', 'TenantName');
  return {
    joined: azureAdJoined.toUpperCase() === 'YES',
    ...(deviceId === undefined ? {} : { deviceId }),
    ...(tenantId === undefined ? {} : { tenantId }),
    ...(tenantName === undefined ? {} : { tenantName }),
  };
}
