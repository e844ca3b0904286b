// What one request carries through the app: the inspected target and the facts the access log records.
import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import type { ApiVersionMapping } from './api-versions.js';
import type { InspectedTarget } from './request-target.js';

/** Facts routes learn while answering, for the access log. */
export interface RequestFacts {
  apiVersion?: string;
  resource?: string;
  upstreamStatus?: number;
  apiVersionMapping?: ApiVersionMapping;
  reason?: string;
}

export type ProxyEnv = {
  /** Absent when the app is driven in-process with app.request() and no bindings. */
  Bindings: Partial<HttpBindings>;
  Variables: { facts: RequestFacts; target: InspectedTarget };
};

export type ProxyContext = Context<ProxyEnv>;

/** The request target as it arrived on the wire, before any URL normalisation. */
export function rawRequestTarget(c: ProxyContext): string {
  const fromSocket = c.env?.incoming?.url;
  if (typeof fromSocket === 'string') return fromSocket;
  const url = new URL(c.req.url);
  return `${url.pathname}${url.search}`;
}

export function peerAddress(c: ProxyContext): string | undefined {
  return c.env?.incoming?.socket?.remoteAddress;
}
