// The IMDS guard: who may ask and what a request must look like before any route or HIMDS sees it.
import type { MiddlewareHandler } from 'hono';
import { isKnownImdsApiVersion } from './api-versions.js';
import { ImdsProblem, invalidApiVersionProblem } from './imds-errors.js';
import type { LocalPeerCheck } from './local-peer.js';
import { peerAddress, rawRequestTarget, type ProxyEnv } from './request-context.js';
import { inspectRequestTarget, isMetadataPath, queryValue, type TargetRejection } from './request-target.js';

const REJECTION_DETAIL: Record<TargetRejection, string> = {
  'not-origin-form': 'The request target must be a path; this is not a forward proxy',
  'unsafe-path': 'The request path contains characters, encodings or segments that are not allowed',
  'duplicate-parameter': 'A query parameter is given more than once',
  'malformed-query': 'The query string is not correctly encoded',
};

/**
 * Checks in this order, each answered at once without touching HIMDS:
 *   1. the peer is this machine (403) — the network never learns anything
 *   2. the raw target is safe (400) and under /metadata/ (404)
 *   3. GET only (405)
 *   4. no X-Forwarded-For (400): IMDS's SSRF defence
 *   5. Metadata: true (400) — this is where @azure/identity's header-less probe stops
 * The inspected target is stored for routes; they never re-read the URL.
 */
export function imdsGuard(options: { isLocalPeer: LocalPeerCheck }): MiddlewareHandler<ProxyEnv> {
  return async (c, next) => {
    if (!options.isLocalPeer(peerAddress(c))) {
      c.get('facts').reason = 'peer is not a local address';
      throw new ImdsProblem(403, 'This proxy answers only processes on this machine');
    }
    const inspection = inspectRequestTarget(rawRequestTarget(c));
    if (!inspection.ok) {
      c.get('facts').reason = `request target refused: ${inspection.reason}`;
      throw new ImdsProblem(400, REJECTION_DETAIL[inspection.reason]);
    }
    c.set('target', inspection.target);
    if (!isMetadataPath(inspection.target.routePath)) throw new ImdsProblem(404, 'Only paths under /metadata/ are served');
    if (c.req.method !== 'GET') throw new ImdsProblem(405, `Only GET is allowed, not ${c.req.method}`);
    if (c.req.header('x-forwarded-for') !== undefined) throw new ImdsProblem(400, 'Requests with an X-Forwarded-For header are refused');
    if (c.req.header('metadata')?.trim().toLowerCase() !== 'true') throw new ImdsProblem(400, 'Required metadata header not specified');
    await next();
  };
}

/** Paths IMDS answers without an api-version. */
const VERSIONLESS_PATHS = new Set(['/metadata/versions']);

/** Refuses a missing or unknown api-version with IMDS's own answer; known ones pass (HIMDS mapping happens later). */
export function knownApiVersionGuard(): MiddlewareHandler<ProxyEnv> {
  return async (c, next) => {
    const target = c.get('target');
    if (!VERSIONLESS_PATHS.has(target.routePath)) {
      const apiVersion = queryValue(target.query, 'api-version');
      if (!isKnownImdsApiVersion(apiVersion)) throw invalidApiVersionProblem();
      c.get('facts').apiVersion = apiVersion;
    }
    await next();
  };
}
