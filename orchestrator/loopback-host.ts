// Which hosts are this machine's loopback: traffic to them never leaves it, and no address needs adding.
import { isIPv4 } from 'node:net';

/** 127.0.0.0/8, ::1 (also IPv4-mapped and bracketed) and localhost. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.trim().replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost' || bare === '::1' || bare === '0:0:0:0:0:0:0:1') return true;
  // IPv4-mapped 127.x.y.z, also in the hex form URL parsing produces (::ffff:7f00:1).
  if (/^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(bare)) return true;
  const ipv4 = bare.startsWith('::ffff:') ? bare.slice('::ffff:'.length) : bare;
  return isIPv4(ipv4) && ipv4.startsWith('127.');
}
