// A loopback HTTP server that serves package files with failure switches and records every request.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gzipSync } from 'node:zlib';

export type ServeBehaviour =
  | { kind: 'ok' }
  /** Always answers with this status. */
  | { kind: 'status'; status: number }
  /** Answers `status` for the first `failures` requests, then the file. */
  | { kind: 'fail-then-ok'; failures: number; status: number }
  /** Announces the full length, sends `sendBytes`, then destroys the socket (the first `times` requests; default all). */
  | { kind: 'truncate'; sendBytes: number; times?: number }
  /** Sends the headers and `sendBytes`, then nothing until the server closes. */
  | { kind: 'stall'; sendBytes: number }
  /** Sends the file in `chunks` pieces, `delayMs` apart. */
  | { kind: 'slow'; chunks: number; delayMs: number }
  /** Sends the file gzip-encoded with Content-Encoding: gzip, whatever the client asked for. */
  | { kind: 'gzip' }
  /** Redirects to `location` (absolute or relative). */
  | { kind: 'redirect'; location: string; status?: number };

export interface RecordedRequest {
  method: string;
  path: string;
  /** The full request target, query included. */
  target: string;
  headers: Record<string, string | string[] | undefined>;
}

interface Route {
  body: Buffer;
  behaviour: ServeBehaviour;
  served: number;
}

export class DownloadServer {
  readonly requests: RecordedRequest[] = [];
  private readonly routes = new Map<string, Route>();
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private server: Server | undefined;
  private baseUrl = '';

  /** Serves `body` at `path` (e.g. "/pkg.zip") with the given behaviour. */
  serve(path: string, body: Buffer, behaviour: ServeBehaviour = { kind: 'ok' }): void {
    this.routes.set(path, { body, behaviour, served: 0 });
  }

  async start(): Promise<this> {
    const server = createServer((request, response) => this.handle(request, response));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  requestsFor(path: string): number {
    return this.requests.filter((request) => request.path === path).length;
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    for (const socket of this.sockets) socket.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const target = request.url ?? '/';
    const path = new URL(target, 'http://placeholder').pathname;
    this.requests.push({ method: request.method ?? '', path, target, headers: request.headers });
    const route = this.routes.get(path);
    if (!route) {
      response.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    route.served += 1;
    const { body, behaviour } = route;
    switch (behaviour.kind) {
      case 'ok':
        this.sendWhole(response, body);
        return;
      case 'status':
        response.writeHead(behaviour.status, { 'Content-Type': 'text/plain' }).end(`status ${behaviour.status}`);
        return;
      case 'fail-then-ok':
        if (route.served <= behaviour.failures) {
          response.writeHead(behaviour.status, { 'Content-Type': 'text/plain' }).end(`status ${behaviour.status}`);
        } else {
          this.sendWhole(response, body);
        }
        return;
      case 'truncate':
        if (behaviour.times !== undefined && route.served > behaviour.times) {
          this.sendWhole(response, body);
          return;
        }
        response.writeHead(200, { 'Content-Type': 'application/zip', 'Content-Length': body.length });
        response.write(body.subarray(0, behaviour.sendBytes), () => {
          this.later(20, () => response.socket?.destroy());
        });
        return;
      case 'stall':
        response.writeHead(200, { 'Content-Type': 'application/zip', 'Content-Length': body.length });
        response.write(body.subarray(0, behaviour.sendBytes));
        return;
      case 'slow':
        this.sendSlowly(response, body, behaviour.chunks, behaviour.delayMs);
        return;
      case 'gzip': {
        const encoded = gzipSync(body);
        response.writeHead(200, { 'Content-Type': 'application/zip', 'Content-Encoding': 'gzip', 'Content-Length': encoded.length }).end(encoded);
        return;
      }
      case 'redirect':
        response.writeHead(behaviour.status ?? 302, { Location: behaviour.location }).end();
        return;
    }
  }

  private sendWhole(response: ServerResponse, body: Buffer): void {
    response.writeHead(200, { 'Content-Type': 'application/zip', 'Content-Length': body.length }).end(body);
  }

  private sendSlowly(response: ServerResponse, body: Buffer, chunks: number, delayMs: number): void {
    response.writeHead(200, { 'Content-Type': 'application/zip', 'Content-Length': body.length });
    const size = Math.ceil(body.length / chunks);
    const sendNext = (offset: number): void => {
      if (offset >= body.length) {
        response.end();
        return;
      }
      response.write(body.subarray(offset, offset + size));
      this.later(delayMs, () => sendNext(offset + size));
    };
    sendNext(0);
  }

  private later(delayMs: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      action();
    }, delayMs);
    this.timers.add(timer);
  }
}
