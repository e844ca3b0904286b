// probeMetadataAddress against small fake metadata services and misbehaving servers on 127.0.0.1.
import { expect } from 'chai';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { probeMetadataAddress } from '../../orchestrator/steps/address-probe.js';

const HOST = '127.0.0.1';
const AWS_TOKEN = 'AQAEAPXt0HWs4c0ZbjZ1oGJzrrd6H8zjzPXkZ-secret-token-value==';

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

interface FakeServer {
  port: number;
  seen: string[];
  close(): Promise<void>;
}

const open: FakeServer[] = [];

async function listen(server: Server | TcpServer, seen: string[], sockets: Set<Socket>): Promise<FakeServer> {
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const fake: FakeServer = {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  open.push(fake);
  return fake;
}

function httpServer(handler: Handler): Promise<FakeServer> {
  const seen: string[] = [];
  return listen(
    createServer((request, response) => {
      seen.push(`${request.method} ${request.url}`);
      handler(request, response);
    }),
    seen,
    new Set(),
  );
}

function tcpServer(onConnection: (socket: Socket) => void): Promise<FakeServer> {
  return listen(createTcpServer(onConnection), [], new Set());
}

const azureImds: Handler = (request, response) => {
  if (request.headers.metadata !== 'true') {
    response.writeHead(400, { 'Content-Type': 'application/json' }).end('{"error":"Bad request. Required metadata header not specified"}');
    return;
  }
  if (request.method === 'GET' && request.url?.startsWith('/metadata/instance?')) {
    response.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
    response.end(JSON.stringify({ compute: { azEnvironment: 'AzurePublicCloud', vmId: '02aab8a4-74ef-476e-8182-f6d2ba4166a6', location: 'westeurope' }, network: {} }));
    return;
  }
  response.writeHead(404).end();
};

function awsImds(options: { serverHeader: boolean }): Handler {
  return (request, response) => {
    const headers: Record<string, string> = options.serverHeader ? { Server: 'EC2ws' } : {};
    if (request.method === 'PUT' && request.url === '/latest/api/token' && request.headers['x-aws-ec2-metadata-token-ttl-seconds'] === '60') {
      response.writeHead(200, { ...headers, 'Content-Type': 'text/plain' }).end(AWS_TOKEN);
      return;
    }
    // IMDSv2-only instances answer 401 to a GET without a token.
    response.writeHead(request.method === 'GET' ? 401 : 405, headers).end();
  };
}

describe('probeMetadataAddress', () => {
  afterEach(async () => {
    await Promise.all(open.splice(0).map((server) => server.close()));
  });

  it('reports a closed port as free', async () => {
    const server = await httpServer((_, response) => response.end());
    const { port } = server;
    await server.close();
    expect(await probeMetadataAddress(HOST, port)).to.deep.equal({ kind: 'free' });
  });

  it('recognises Azure IMDS by its instance document', async () => {
    const server = await httpServer(azureImds);
    expect(await probeMetadataAddress(HOST, server.port)).to.deep.equal({ kind: 'azure-imds' });
    expect(server.seen).to.deep.equal(['GET /metadata/instance?api-version=2021-02-01']);
  });

  it('recognises AWS EC2 IMDS by its Server header and does not leak the token', async () => {
    const server = await httpServer(awsImds({ serverHeader: true }));
    const occupant = await probeMetadataAddress(HOST, server.port);
    expect(occupant).to.deep.equal({ kind: 'aws-imds' });
    expect(JSON.stringify(occupant).includes(AWS_TOKEN)).to.equal(false);
  });

  it('recognises AWS EC2 IMDS by the IMDSv2 token PUT when there is no Server header', async () => {
    const server = await httpServer(awsImds({ serverHeader: false }));
    const occupant = await probeMetadataAddress(HOST, server.port);
    expect(occupant).to.deep.equal({ kind: 'aws-imds' });
    expect(server.seen).to.deep.equal(['GET /metadata/instance?api-version=2021-02-01', 'PUT /latest/api/token']);
    expect(JSON.stringify(occupant).includes(AWS_TOKEN)).to.equal(false);
  });

  it('recognises a running himdsproxy by its Server header, even when it serves an Azure-like document', async () => {
    const server = await httpServer((request, response) => {
      response.setHeader('Server', 'himdsproxy');
      azureImds(request, response);
    });
    expect(await probeMetadataAddress(HOST, server.port)).to.deep.equal({ kind: 'himdsproxy' });
  });

  it('recognises a himdsproxy answering an error, with a version in its Server header', async () => {
    const server = await httpServer((_, response) => response.writeHead(502, { Server: 'himdsproxy/0.1.0' }).end('{"error":"upstream"}'));
    expect(await probeMetadataAddress(HOST, server.port)).to.deep.equal({ kind: 'himdsproxy' });
  });

  it('names something else that answers HTTP', async () => {
    const server = await httpServer((_, response) => response.writeHead(404, { Server: 'nginx/1.25.3' }).end('<html>Not Found</html>'));
    expect(await probeMetadataAddress(HOST, server.port)).to.deep.equal({
      kind: 'other',
      detail: `an HTTP server (Server: nginx/1.25.3) answers on ${HOST}:${server.port}: HTTP 404 to GET /metadata/instance`,
      server: 'nginx',
    });
  });

  it('does not take an Azure-shaped 200 without compute.vmId/azEnvironment for Azure, nor an HTML 200 for an AWS token', async () => {
    const server = await httpServer((_, response) => response.writeHead(200, { 'Content-Type': 'text/html' }).end('<html><body>Welcome</body></html>'));
    const occupant = await probeMetadataAddress(HOST, server.port);
    expect(occupant.kind).to.equal('other');
    const jsonServer = await httpServer((_, response) => response.writeHead(200).end('{"compute":{"vmId":7},"network":{}}'));
    expect((await probeMetadataAddress(HOST, jsonServer.port)).kind).to.equal('other');
  });

  it('decides "other" for a server that accepts connections and never answers (something holds the port)', async () => {
    const server = await tcpServer(() => undefined);
    const occupant = await probeMetadataAddress(HOST, server.port, 300);
    expect(occupant).to.deep.equal({
      kind: 'other',
      detail: `something accepts connections on ${HOST}:${server.port} but did not answer HTTP within 300 ms`,
    });
  });

  it('decides "other" for a service that does not speak HTTP', async () => {
    const server = await tcpServer((socket) => socket.end('SSH-2.0-OpenSSH_9.6\r\n'));
    const occupant = await probeMetadataAddress(HOST, server.port);
    expect(occupant).to.deep.equal({ kind: 'other', detail: `something on ${HOST}:${server.port} answers, but not with HTTP` });
  });

  it('decides "other" for a server that accepts and closes at once', async () => {
    const server = await tcpServer((socket) => socket.destroy());
    const occupant = await probeMetadataAddress(HOST, server.port);
    expect(occupant.kind).to.equal('other');
    expect((occupant as { detail: string }).detail).to.match(/accepted the connection, then closed it without answering/);
  });

  it('stops reading an endless body and still decides', async () => {
    const server = await httpServer((_, response) => {
      response.writeHead(200, { 'Content-Type': 'application/json' });
      const chunk = Buffer.alloc(16 * 1024, 'a');
      const pump = (): void => {
        while (response.write(chunk)) { /* fill the buffer */ }
        response.once('drain', pump);
      };
      response.on('close', () => response.removeAllListeners('drain'));
      pump();
    });
    const occupant = await probeMetadataAddress(HOST, server.port, 1_000);
    expect(occupant.kind).to.equal('other');
  });

  it('probes an IPv6 loopback host too', async function () {
    const server = createServer(azureImds);
    const listening = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(0, '::1', () => resolve(true));
    });
    if (!listening) this.skip();
    try {
      expect(await probeMetadataAddress('::1', (server.address() as AddressInfo).port)).to.deep.equal({ kind: 'azure-imds' });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
