// Drives the proxy app in-process (app.request) with a recorded fake upstream: for table tests of the guard and routes.
import { MemoryAccessLog } from '../../core/access-log.js';
import { HimdsApiVersions } from '../../core/api-versions.js';
import { createProxyApp } from '../../core/app.js';
import { HimdsClient, type UpstreamTransport } from '../../core/himds-client.js';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createLocalPeerCheck } from '../../core/local-peer.js';

export type FakeUpstream = (url: URL, headers: Headers) => Response | Promise<Response>;

export interface InProcessProxy {
  request(rawTarget: string, init?: { method?: string; headers?: Record<string, string>; peer?: string | null }): Promise<Response>;
  upstreamCalls: URL[];
  accessLog: MemoryAccessLog;
}

export function inProcessProxy(options: { upstream?: FakeUpstream; allowedResources?: string[]; tokenDirectory?: string } = {}): InProcessProxy {
  const upstreamCalls: URL[] = [];
  const upstream = options.upstream ?? (() => new Response('{"compute":{}}', { status: 200 }));
  const fakeTransport: UpstreamTransport = async (target, headers) => {
    const url = new URL(target);
    upstreamCalls.push(url);
    const response = await upstream(url, new Headers(headers));
    return { status: response.status, headers: response.headers, body: response.body ? Readable.fromWeb(response.body as WebReadableStream) : Readable.from([]) };
  };
  const accessLog = new MemoryAccessLog();
  const app = createProxyApp({
    himds: new HimdsClient({ baseUrl: 'http://127.0.0.1:40342', timeoutMs: 2_000, transport: fakeTransport }),
    apiVersions: new HimdsApiVersions(),
    tokenDirectory: options.tokenDirectory ?? '/nonexistent/tokens',
    allowedResources: options.allowedResources ?? [],
    accessLog,
    isLocalPeer: createLocalPeerCheck({ listInterfaces: () => ({ eth0: [{ address: '192.0.2.10', netmask: '255.255.255.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: false, cidr: '192.0.2.10/24' }] }) }),
  });

  return {
    upstreamCalls,
    accessLog,
    request(rawTarget, init = {}) {
      let url: string;
      try {
        url = new URL(rawTarget, 'http://127.0.0.1').href;
      } catch {
        url = 'http://127.0.0.1/';
      }
      const peer = init.peer === undefined ? '127.0.0.1' : init.peer;
      // The bindings @hono/node-server would pass: the raw target and the peer, as the socket saw them.
      const bindings = peer === null ? {} : { incoming: { url: rawTarget, socket: { remoteAddress: peer } } };
      return Promise.resolve(app.request(url, { method: init.method ?? 'GET', headers: init.headers ?? {} }, bindings));
    },
  };
}

export const METADATA = { Metadata: 'true' } as const;
