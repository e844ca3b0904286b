// The upstream client on real sockets: each way HIMDS can fail is classified, and the failure names no secret.
import { expect } from 'chai';
import { createServer, type Server, type Socket } from 'node:net';
import { HimdsClient, UpstreamError, type UpstreamFailureKind } from '../../core/himds-client.js';
import { rejectionOf } from '../support/rejection.js';

describe('core HIMDS client (sockets)', () => {
  let server: Server | undefined;
  const sockets: Socket[] = [];

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    if (server) await new Promise((resolveClose) => server!.close(resolveClose));
    server = undefined;
  });

  /** A raw TCP server that reacts to each connection as told: the shapes no HTTP library would produce. */
  async function rawServer(onConnection: (socket: Socket) => void): Promise<string> {
    server = createServer((socket) => {
      sockets.push(socket);
      onConnection(socket);
    });
    await new Promise<void>((resolveListen) => server!.listen(0, '127.0.0.1', resolveListen));
    return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  }

  async function unusedPortUrl(): Promise<string> {
    const probe = createServer();
    await new Promise<void>((resolveListen) => probe.listen(0, '127.0.0.1', resolveListen));
    const port = (probe.address() as { port: number }).port;
    await new Promise((resolveClose) => probe.close(resolveClose));
    return `http://127.0.0.1:${port}`;
  }


  const SECRET = 'c2VjcmV0LWluLWhlYWRlcg';

  const cases: { name: string; kind: UpstreamFailureKind; url: () => Promise<string>; readBody?: boolean }[] = [
    { name: 'nothing listening', kind: 'unreachable', url: unusedPortUrl },
    { name: "port 6000 (one of fetch's refused ports: not a problem for this client)", kind: 'unreachable', url: async () => 'http://127.0.0.1:6000' },
    { name: 'a silent server', kind: 'timeout', url: () => rawServer(() => undefined) },
    { name: 'a server that hangs up at once', kind: 'malformed', url: () => rawServer((socket) => socket.destroy()) },
    { name: 'a server speaking garbage', kind: 'malformed', url: () => rawServer((socket) => socket.end('NOT HTTP AT ALL\r\n\r\n')) },
    {
      name: 'a body cut short',
      kind: 'malformed',
      readBody: true,
      url: () => rawServer((socket) => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: application/json\r\n\r\n{"compute":');
        setTimeout(() => socket.destroy(), 20);
      }),
    },
    {
      name: 'a body that stalls',
      kind: 'timeout',
      readBody: true,
      url: () => rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{')),
    },
  ];
  for (const testCase of cases) {
    it(`${testCase.name} → ${testCase.kind}`, async () => {
      const client = new HimdsClient({ baseUrl: await testCase.url(), timeoutMs: 300 });
      const attempt = client.get('/metadata/instance?api-version=2021-02-01', { Metadata: 'true', Authorization: `Basic ${SECRET}` });
      const failure = await rejectionOf(testCase.readBody ? attempt.then((response) => response.readText()) : attempt, UpstreamError);
      expect(failure.kind).to.equal(testCase.kind);
      expect(failure.message.includes(SECRET)).to.equal(false);
    });
  }

  it('a non-JSON body read as JSON → malformed', async () => {
    const url = await rawServer((socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello'));
    const response = await new HimdsClient({ baseUrl: url, timeoutMs: 1_000 }).get('/x', {});
    expect((await rejectionOf(response.readJson(), UpstreamError)).kind).to.equal('malformed');
  });
});
