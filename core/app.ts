// The proxy as a Hono app: access log → Server header → guard → api-version → routes; every failure IMDS-shaped.
import { Hono, type MiddlewareHandler } from 'hono';
import type { AccessLog } from './access-log.js';
import { markLoggedByApp } from './access-log.js';
import { isChallengeError } from './challenge.js';
import { PROXY_SERVER_HEADER } from './contract.js';
import { problemFromFailure } from './failure-problems.js';
import { imdsGuard, knownApiVersionGuard } from './guard.js';
import { ImdsProblem, isImdsProblem, problemResponse, type ErrorShape } from './imds-errors.js';
import type { LocalPeerCheck } from './local-peer.js';
import { peerAddress, rawRequestTarget, type ProxyContext, type ProxyEnv } from './request-context.js';
import { loggablePath } from './request-target.js';
import type { RouteDependencies } from './routes/dependencies.js';
import { identityInfoRoute } from './routes/identity-info.js';
import { instanceRoute } from './routes/instance.js';
import { passthroughRoute } from './routes/passthrough.js';
import { tokenRoute } from './routes/token.js';
import { versionsRoute } from './routes/versions.js';

export interface ProxyAppDependencies extends RouteDependencies {
  accessLog: AccessLog;
  isLocalPeer: LocalPeerCheck;
  /** Milliseconds on a monotonic clock, for durations. */
  monotonicNow?: () => number;
  /** Where unexpected errors are reported (never with secrets: only name and message). */
  reportInternalError?: (error: unknown) => void;
}

const TOKEN_ROUTE_PATH = '/metadata/identity/oauth2/token';

/** Routes match the lower-cased path without a trailing slash: IMDS matches /metadata case-insensitively. */
function routingPath(request: Request): string {
  const url = request.url;
  const pathStart = url.indexOf('/', url.indexOf('://') + 3);
  if (pathStart === -1) return '/';
  const queryStart = url.indexOf('?', pathStart);
  let path = (queryStart === -1 ? url.slice(pathStart) : url.slice(pathStart, queryStart)).toLowerCase();
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  return path;
}

function errorShapeOf(c: ProxyContext): ErrorShape {
  return c.get('target')?.routePath === TOKEN_ROUTE_PATH ? 'token' : 'general';
}

function accessLogging(accessLog: AccessLog, monotonicNow: () => number): MiddlewareHandler<ProxyEnv> {
  return async (c, next) => {
    const startedAt = monotonicNow();
    c.set('facts', {});
    const incoming = c.env?.incoming;
    if (incoming) markLoggedByApp(incoming);
    try {
      await next();
    } finally {
      accessLog.record({
        time: new Date().toISOString(),
        peer: peerAddress(c) ?? 'unknown',
        method: c.req.method,
        path: loggablePath(rawRequestTarget(c)),
        ...c.get('facts'),
        status: c.res.status,
        durationMs: Math.round((monotonicNow() - startedAt) * 10) / 10,
      });
    }
  };
}

function serverHeader(): MiddlewareHandler<ProxyEnv> {
  return async (c, next) => {
    await next();
    c.res.headers.set('server', PROXY_SERVER_HEADER);
  };
}

export function createProxyApp(dependencies: ProxyAppDependencies): Hono<ProxyEnv> {
  const app = new Hono<ProxyEnv>({ getPath: routingPath });
  const monotonicNow = dependencies.monotonicNow ?? (() => performance.now());

  app.use('*', accessLogging(dependencies.accessLog, monotonicNow));
  app.use('*', serverHeader());
  app.use('*', imdsGuard({ isLocalPeer: dependencies.isLocalPeer }));
  app.use('*', knownApiVersionGuard());

  app.get('/metadata/versions', versionsRoute());
  app.get(TOKEN_ROUTE_PATH, tokenRoute(dependencies));
  app.get('/metadata/identity/info', identityInfoRoute(dependencies));
  app.get('/metadata/instance', instanceRoute(dependencies));
  app.get('/metadata/instance/*', instanceRoute(dependencies));
  app.get('/metadata/*', passthroughRoute(dependencies));

  app.notFound((c) => problemResponse(new ImdsProblem(404, 'Only paths under /metadata/ are served'), errorShapeOf(c)));
  app.onError((error, c) => {
    const problem = isImdsProblem(error) ? error : problemFromFailure(error, dependencies.himds.origin);
    if (problem) {
      const facts = c.get('facts');
      if (facts && !isImdsProblem(error)) facts.reason = problem.detail;
      // Every challenge failure follows HIMDS's 401 (the challenge, or its second one).
      if (facts && isChallengeError(error)) facts.upstreamStatus = 401;
      return problemResponse(problem, errorShapeOf(c));
    }
    dependencies.reportInternalError?.(error);
    return problemResponse(new ImdsProblem(500, 'The proxy failed unexpectedly; see its standard error'), errorShapeOf(c));
  });
  return app;
}
