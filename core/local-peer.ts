// Decides whether a peer address belongs to this machine: the proxy must never serve the network.
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { isLoopbackHost } from './contract.js';

export type LocalPeerCheck = (address: string | undefined) => boolean;

export interface LocalPeerCheckOptions {
  /** Injected in tests; defaults to os.networkInterfaces. */
  listInterfaces?: () => ReturnType<typeof networkInterfaces>;
  /** How long the interface list is trusted; addresses rarely change during a join. */
  cacheMs?: number;
  now?: () => number;
}

/** "::ffff:127.0.0.1" → "127.0.0.1", "fe80::1%eth0" → "fe80::1", lower case. */
export function canonicalAddress(address: string): string {
  let canonical = address.trim().toLowerCase();
  const zone = canonical.indexOf('%');
  if (zone !== -1) canonical = canonical.slice(0, zone);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(canonical);
  return mapped?.[1] ?? canonical;
}

export function isLoopbackAddress(address: string): boolean {
  return isLoopbackHost(canonicalAddress(address));
}

export function createLocalPeerCheck(options: LocalPeerCheckOptions = {}): LocalPeerCheck {
  const listInterfaces = options.listInterfaces ?? networkInterfaces;
  const cacheMs = options.cacheMs ?? 5_000;
  const now = options.now ?? Date.now;
  let localAddresses = new Set<string>();
  let readAt = Number.NEGATIVE_INFINITY;

  const refresh = () => {
    const addresses = new Set<string>();
    for (const entries of Object.values(listInterfaces())) {
      for (const entry of entries ?? []) addresses.add(canonicalAddress(entry.address));
    }
    localAddresses = addresses;
    readAt = now();
  };

  return (address) => {
    if (address === undefined || isIP(canonicalAddress(address)) === 0) return false;
    if (isLoopbackAddress(address)) return true;
    if (now() - readAt > cacheMs) refresh();
    return localAddresses.has(canonicalAddress(address));
  };
}
