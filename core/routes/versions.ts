// GET /metadata/versions: the api-versions this proxy accepts (all of IMDS's; it maps them for HIMDS).
import type { Handler } from 'hono';
import { KNOWN_IMDS_API_VERSIONS } from '../api-versions.js';
import type { ProxyEnv } from '../request-context.js';
import { jsonResponse } from '../upstream-answers.js';

export function versionsRoute(): Handler<ProxyEnv> {
  return () => jsonResponse({ apiVersions: KNOWN_IMDS_API_VERSIONS });
}
