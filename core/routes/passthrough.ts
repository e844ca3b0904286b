// Every other path under /metadata/: forwarded to HIMDS and streamed back, hop-by-hop headers dropped both ways.
import type { Handler } from 'hono';
import { getWithApiVersion } from '../himds-request.js';
import { PROXY_SERVER_HEADER } from '../contract.js';
import type { ProxyEnv } from '../request-context.js';
import type { RouteDependencies } from './dependencies.js';

/** RFC 9110 §7.6.1 connection-specific headers (hono/proxy's list) plus ones that describe a connection or a body we change. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'host', 'content-length', 'proxy-connection',
]);

/** Never forwarded upstream: secrets, client-routing headers, and accept-encoding (bodies are relayed as HIMDS sends them, undecoded, so the caller gets exactly what it can read). */
const NOT_FORWARDED_UPSTREAM = new Set(['authorization', 'cookie', 'accept-encoding', 'forwarded', 'x-real-ip']);

/** The Server header is ours; content-encoding cannot apply since no encoding was offered upstream. */
const NOT_RETURNED = new Set(['content-encoding', 'server']);

function connectionListed(headers: Headers): Set<string> {
  return new Set((headers.get('connection') ?? '').split(',').map((name) => name.trim().toLowerCase()).filter(Boolean));
}

export function forwardableRequestHeaders(incoming: Headers): Record<string, string> {
  const listed = connectionListed(incoming);
  const forwarded: Record<string, string> = {};
  incoming.forEach((value, name) => {
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed.has(lower) || NOT_FORWARDED_UPSTREAM.has(lower) || lower.startsWith('x-forwarded-')) return;
    forwarded[lower] = value;
  });
  return forwarded;
}

export function returnableResponseHeaders(upstream: Headers): Headers {
  const listed = connectionListed(upstream);
  const returned = new Headers();
  upstream.forEach((value, name) => {
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed.has(lower) || NOT_RETURNED.has(lower)) return;
    returned.append(lower, value);
  });
  returned.set('server', PROXY_SERVER_HEADER);
  return returned;
}

export function passthroughRoute(dependencies: RouteDependencies): Handler<ProxyEnv> {
  return async (c) => {
    const { path, query } = c.get('target');
    const facts = c.get('facts');
    const answer = await getWithApiVersion(dependencies.himds, dependencies.apiVersions, {
      path,
      query,
      requestedApiVersion: facts.apiVersion ?? '',
      headers: forwardableRequestHeaders(c.req.raw.headers),
    });
    facts.upstreamStatus = answer.response.status;
    if (answer.mapping) facts.apiVersionMapping = answer.mapping;
    return new Response(answer.response.bodyStream() as ReadableStream<Uint8Array>, {
      status: answer.response.status,
      headers: returnableResponseHeaders(answer.response.headers),
    });
  };
}
