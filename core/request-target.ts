// Inspects the raw request target (before any URL normalisation) the way IMDS's SSRF defences demand.

export interface InspectedTarget {
  /** The path exactly as sent, e.g. /metadata/instance/compute/vmId */
  path: string;
  /** Lower-cased, without a trailing slash: what routes match (IMDS matches /metadata case-insensitively). */
  routePath: string;
  query: URLSearchParams;
}

export type TargetRejection =
  | 'not-origin-form'
  | 'unsafe-path'
  | 'duplicate-parameter'
  | 'malformed-query';

export type TargetInspection = { ok: true; target: InspectedTarget } | { ok: false; reason: TargetRejection };

/**
 * IMDS paths need nothing but letters, digits and - . _ ~ /. Anything else (backslashes,
 * percent-encoding such as %2e%2e or %5c, NUL) is how routing bypasses are smuggled in
 * (GHSA-p82q-rxpm-hjpc), so it is refused rather than decoded.
 */
const SAFE_PATH = /^\/[A-Za-z0-9\-._~/]*$/;

export function inspectRequestTarget(rawTarget: string): TargetInspection {
  if (!rawTarget.startsWith('/')) return { ok: false, reason: 'not-origin-form' };
  if (rawTarget.includes('#')) return { ok: false, reason: 'unsafe-path' };
  const queryStart = rawTarget.indexOf('?');
  const path = queryStart === -1 ? rawTarget : rawTarget.slice(0, queryStart);
  const rawQuery = queryStart === -1 ? '' : rawTarget.slice(queryStart + 1);

  if (!SAFE_PATH.test(path) || path.includes('//')) return { ok: false, reason: 'unsafe-path' };
  if (path.split('/').some((segment) => segment === '.' || segment === '..')) return { ok: false, reason: 'unsafe-path' };

  let query: URLSearchParams;
  try {
    // decodeURIComponent first: URLSearchParams silently keeps broken escapes like %zz.
    for (const part of rawQuery.split('&')) decodeURIComponent(part.replace(/\+/g, ' '));
    query = new URLSearchParams(rawQuery);
  } catch {
    return { ok: false, reason: 'malformed-query' };
  }
  const seen = new Set<string>();
  for (const name of query.keys()) {
    const folded = name.toLowerCase();
    if (seen.has(folded)) return { ok: false, reason: 'duplicate-parameter' };
    seen.add(folded);
  }

  let routePath = path.toLowerCase();
  if (routePath.length > 1 && routePath.endsWith('/')) routePath = routePath.slice(0, -1);
  return { ok: true, target: { path, routePath, query } };
}

/** True for /metadata and everything below it. */
export function isMetadataPath(routePath: string): boolean {
  return routePath === '/metadata' || routePath.startsWith('/metadata/');
}

/** A path fit for a log line: the raw target without its query, escaped and bounded. */
export function loggablePath(rawTarget: string): string {
  const queryStart = rawTarget.indexOf('?');
  const path = queryStart === -1 ? rawTarget : rawTarget.slice(0, queryStart);
  return path.length > 300 ? `${path.slice(0, 300)}…` : path;
}

/** A query parameter by name, ignoring case (duplicates in any case were already refused). */
export function queryValue(query: URLSearchParams, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of query) if (key.toLowerCase() === wanted) return value;
  return undefined;
}
