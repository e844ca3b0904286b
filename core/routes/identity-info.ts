// GET /metadata/identity/info: the tenant id, from HIMDS or, where HIMDS lacks it, from a token's tid claim.
import type { Handler } from 'hono';
import { getWithApiVersion } from '../himds-request.js';
import { requestTokenFromHimds } from '../himds-token.js';
import { UpstreamError } from '../himds-client.js';
import { tenantIdClaim } from '../jwt-claims.js';
import type { ProxyEnv } from '../request-context.js';
import { jsonResponse, readJsonObject, relayUpstreamError } from '../upstream-answers.js';
import type { RouteDependencies } from './dependencies.js';

/** Any resource works for reading the tenant; this one every Arc identity can get. */
export const TENANT_LOOKUP_RESOURCE = 'https://management.azure.com/';

export function identityInfoRoute(dependencies: RouteDependencies): Handler<ProxyEnv> {
  return async (c) => {
    const facts = c.get('facts');
    const apiVersion = facts.apiVersion ?? '';
    const answer = await getWithApiVersion(dependencies.himds, dependencies.apiVersions, {
      path: '/metadata/identity/info',
      query: new URLSearchParams(),
      requestedApiVersion: apiVersion,
      headers: { Metadata: 'true' },
    });
    facts.upstreamStatus = answer.response.status;
    if (answer.mapping) facts.apiVersionMapping = answer.mapping;
    if (answer.response.status === 200) return jsonResponse(await readJsonObject(answer.response));
    if (answer.response.status !== 404) return relayUpstreamError(answer.response, 'general');
    await answer.response.discard();

    facts.reason = 'HIMDS has no /metadata/identity/info; tenant read from a token';
    const token = await requestTokenFromHimds(dependencies, { resource: TENANT_LOOKUP_RESOURCE, apiVersion });
    facts.upstreamStatus = token.response.status;
    if (token.mapping) facts.apiVersionMapping = token.mapping;
    if (token.response.status !== 200) return relayUpstreamError(token.response, 'general');
    const accessToken = (await readJsonObject(token.response)).access_token;
    const tenantId = typeof accessToken === 'string' ? tenantIdClaim(accessToken) : undefined;
    if (tenantId === undefined) throw new UpstreamError('malformed', 'HIMDS issued a token without a readable tenant id (tid) claim');
    return jsonResponse({ tenantId });
  };
}
