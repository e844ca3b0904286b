// Check 8: can this machine reach the Entra endpoints the join talks to (DNS, then TCP 443)?
import type { DoctorCheck } from '../check.js';
import type { DoctorContext } from '../context.js';

/** PROTOCOLS.md §4. */
export const ENTRA_HOSTS = [
  'enterpriseregistration.windows.net',
  'login.microsoftonline.com',
  'device.login.microsoftonline.com',
  'pas.windows.net',
] as const;

const CONNECT_TIMEOUT_MS = 2_000;

/** undefined when reachable, else why not. */
async function unreachableReason(context: DoctorContext, host: string): Promise<string | undefined> {
  let addresses: string[];
  try {
    addresses = await context.resolveHost(host);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return `DNS lookup failed${typeof code === 'string' ? ` (${code})` : ''}`;
  }
  const address = addresses[0];
  if (address === undefined) return 'DNS lookup found no address';
  if (await context.canConnect(address, 443, CONNECT_TIMEOUT_MS)) return undefined;
  return `no TCP connection to ${address}:443 within ${CONNECT_TIMEOUT_MS / 1000} s`;
}

export const outboundCheck: DoctorCheck = {
  id: 'outbound',
  title: 'Entra endpoints',
  async run(context) {
    if (context.checkOutbound === false) {
      return { outcome: 'info', detail: 'Not tested (--no-outbound-check).' };
    }
    const reasons = await Promise.all(ENTRA_HOSTS.map((host) => unreachableReason(context, host)));
    const failures = ENTRA_HOSTS.flatMap((host, index) => (reasons[index] === undefined ? [] : [`${host}: ${reasons[index]}`]));
    if (failures.length === 0) return { outcome: 'pass', detail: `All ${ENTRA_HOSTS.length} reachable on 443: ${ENTRA_HOSTS.join(', ')}.` };
    return {
      outcome: 'warn',
      detail: `${failures.length} of ${ENTRA_HOSTS.length} unreachable: ${failures.join('; ')}.`,
      fix: 'Allow outbound HTTPS (443) to these hosts in the firewall. Without enterpriseregistration.windows.net the handler fails with -2145648607. Behind an HTTP proxy this direct test can warn although the join works (dsregcmd uses the WinHTTP proxy).',
    };
  },
};
