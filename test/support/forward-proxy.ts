// A minimal HTTP forward proxy on loopback (absolute-form requests and CONNECT tunnels), recording what passed through.
import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';

/** This proxy must never reach beyond the machine. */
const LOOPBACK_AUTHORITY = /^(127\.\d+\.\d+\.\d+|localhost):(\d+)$/;

export class ForwardProxy {
  readonly forwarded: string[] = [];
  private server: Server | undefined;

  async start(): Promise<this> {
    const server = createServer((incoming, outgoing) => {
      const target = incoming.url ?? '';
      if (!/^http:\/\/(127\.\d+\.\d+\.\d+|localhost)(:\d+)?\//.test(target)) {
        outgoing.writeHead(403).end('only loopback targets');
        return;
      }
      this.forwarded.push(`${incoming.method} ${target}`);
      const upstream = httpRequest(target, { method: incoming.method, headers: { ...incoming.headers, connection: 'close' } }, (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      });
      upstream.on('error', () => outgoing.destroy());
      incoming.pipe(upstream);
    });
    server.on('connect', (incoming, clientSocket: Socket, head: Buffer) => {
      const authority = incoming.url ?? '';
      const match = LOOPBACK_AUTHORITY.exec(authority);
      if (!match) {
        clientSocket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
        return;
      }
      this.forwarded.push(`CONNECT ${authority}`);
      const upstream = connect(Number(match[2]), match[1]!, () => {
        clientSocket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(clientSocket);
        clientSocket.pipe(upstream);
      });
      upstream.on('error', () => clientSocket.destroy());
      clientSocket.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    server?.closeAllConnections();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
