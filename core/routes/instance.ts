// GET /metadata/instance and every sub-path, served from HIMDS's whole document where HIMDS lacks the sub-path.
import type { Handler } from 'hono';
import { getWithApiVersion } from '../himds-request.js';
import { ImdsProblem } from '../imds-errors.js';
import { isLeaf, leafAsText, listChildrenAsText, stringifyPrimitives, walkInstanceMetadata } from '../instance-metadata.js';
import type { ProxyEnv } from '../request-context.js';
import { queryValue } from '../request-target.js';
import { imdsShapedJson, jsonResponse, readJsonObject, relayUpstreamError, textResponse } from '../upstream-answers.js';
import type { RouteDependencies } from './dependencies.js';

const INSTANCE_PATH = '/metadata/instance';

export function instanceRoute(dependencies: RouteDependencies): Handler<ProxyEnv> {
  return async (c) => {
    const { path, query } = c.get('target');
    const facts = c.get('facts');
    const apiVersion = facts.apiVersion ?? '';
    // Keys are case-sensitive (vmId); only the /metadata/instance prefix is not.
    const segments = path.slice(INSTANCE_PATH.length).split('/').filter((segment) => segment !== '');
    const format = queryValue(query, 'format')?.toLowerCase();
    if (format !== undefined && format !== 'json' && format !== 'text') {
      throw new ImdsProblem(400, 'format must be json or text');
    }

    const direct = await getWithApiVersion(dependencies.himds, dependencies.apiVersions, {
      path: `${INSTANCE_PATH}${segments.map((segment) => `/${segment}`).join('')}`,
      query,
      requestedApiVersion: apiVersion,
      headers: { Metadata: 'true' },
    });
    facts.upstreamStatus = direct.response.status;
    if (direct.mapping) facts.apiVersionMapping = direct.mapping;
    if (direct.response.status === 200) {
      if (format === 'text') return textResponse(await direct.response.readText());
      return imdsShapedJson(direct.response);
    }
    if (direct.response.status !== 404 || segments.length === 0) return relayUpstreamError(direct.response, 'general');
    await direct.response.discard();

    facts.reason = 'HIMDS lacks the sub-path; walked /metadata/instance';
    const whole = await getWithApiVersion(dependencies.himds, dependencies.apiVersions, {
      path: INSTANCE_PATH,
      query: new URLSearchParams({ format: 'json' }),
      requestedApiVersion: apiVersion,
      headers: { Metadata: 'true' },
    });
    facts.upstreamStatus = whole.response.status;
    if (whole.mapping) facts.apiVersionMapping = whole.mapping;
    if (whole.response.status !== 200) return relayUpstreamError(whole.response, 'general');
    const node = walkInstanceMetadata(stringifyPrimitives(await readJsonObject(whole.response)), segments);
    if (node === undefined) throw new ImdsProblem(404, `No instance metadata at ${path}`);
    if (isLeaf(node)) {
      if (format !== 'text') throw new ImdsProblem(400, 'Leaf nodes of instance metadata need format=text');
      return textResponse(leafAsText(node));
    }
    if (format === 'text') return textResponse(listChildrenAsText(node as object));
    return jsonResponse(node);
  };
}
