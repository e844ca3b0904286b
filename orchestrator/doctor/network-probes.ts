// The real DNS lookup and TCP connect behind doctor's outbound check.
import { lookup } from 'node:dns/promises';
import { Socket } from 'node:net';

/** Every address dns.lookup finds (the OS resolver, as dsregcmd would use), IPv4 first. */
export async function resolveHostAddresses(host: string): Promise<string[]> {
  const found = await lookup(host, { all: true, order: 'ipv4first' });
  return found.map((entry) => entry.address);
}

/** Whether a TCP connection opens within timeoutMs; it is closed at once, nothing is sent. */
export function canOpenTcpConnection(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const finish = (connected: boolean): void => {
      socket.destroy();
      resolve(connected);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
    socket.connect({ host, port });
  });
}
