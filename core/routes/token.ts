// GET /metadata/identity/oauth2/token: a token for the machine's system-assigned identity, via the HIMDS challenge.
import type { Handler } from 'hono';
import { requestTokenFromHimds } from '../himds-token.js';
import { ImdsProblem } from '../imds-errors.js';
import { stringifyPrimitives } from '../instance-metadata.js';
import type { ProxyEnv } from '../request-context.js';
import { queryValue } from '../request-target.js';
import { jsonResponse, readJsonObject, relayUpstreamError } from '../upstream-answers.js';
import type { RouteDependencies } from './dependencies.js';

/** Parameters that select a user-assigned identity; Arc has none, and HIMDS may ignore them silently. */
const USER_ASSIGNED_IDENTITY_PARAMETERS = ['client_id', 'object_id', 'msi_res_id', 'mi_res_id'];

export function tokenRoute(dependencies: RouteDependencies): Handler<ProxyEnv> {
  return async (c) => {
    const { query } = c.get('target');
    const facts = c.get('facts');
    const userAssigned = USER_ASSIGNED_IDENTITY_PARAMETERS.filter((name) => queryValue(query, name) !== undefined);
    if (userAssigned.length > 0) {
      facts.reason = `user-assigned identity requested (${userAssigned.join(', ')})`;
      throw new ImdsProblem(400, `Azure Arc supports only the system-assigned identity; remove ${userAssigned.join(', ')}`);
    }
    const resource = queryValue(query, 'resource');
    if (resource === undefined || resource.trim() === '') throw new ImdsProblem(400, 'Required audience (resource) not specified');
    facts.resource = resource;
    if (dependencies.allowedResources.length > 0 && !dependencies.allowedResources.includes(resource)) {
      facts.reason = 'resource not allowed';
      throw new ImdsProblem(403, `Tokens for resource "${resource}" are not allowed by this proxy (see --allow-resource)`);
    }

    const answer = await requestTokenFromHimds(dependencies, { resource, apiVersion: facts.apiVersion ?? '' });
    facts.upstreamStatus = answer.response.status;
    if (answer.mapping) facts.apiVersionMapping = answer.mapping;
    if (answer.response.status !== 200) return relayUpstreamError(answer.response, 'token');
    return jsonResponse(stringifyPrimitives(await readJsonObject(answer.response)));
  };
}
