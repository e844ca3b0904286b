// Sends one request to HIMDS with a caller's api-version, mapping it onto one HIMDS accepts.
import type { ApiVersionMapping, HimdsApiVersions } from './api-versions.js';
import type { HimdsClient, UpstreamResponse } from './himds-client.js';

export interface VersionedRequest {
  /** e.g. /metadata/instance */
  path: string;
  /** Parameters to send besides api-version, which is set here. */
  query: URLSearchParams;
  requestedApiVersion: string;
  headers: Record<string, string>;
}

export interface VersionedAnswer {
  response: UpstreamResponse;
  /** The version HIMDS was finally asked with. */
  usedApiVersion: string;
  mapping?: ApiVersionMapping;
}

export function upstreamTarget(path: string, query: URLSearchParams, apiVersion: string): string {
  const parameters = new URLSearchParams();
  parameters.set('api-version', apiVersion);
  for (const [name, value] of query) if (name.toLowerCase() !== 'api-version') parameters.append(name, value);
  return `${path}?${parameters.toString()}`;
}

/**
 * GETs from HIMDS. If HIMDS refuses the version with its "Supported are …" list, the list is
 * remembered for every later request and this request is retried once with the closest version.
 */
export async function getWithApiVersion(
  client: HimdsClient,
  versions: HimdsApiVersions,
  request: VersionedRequest,
): Promise<VersionedAnswer> {
  const requested = request.requestedApiVersion;
  let used = versions.versionToSend(requested);
  let response = await client.get(upstreamTarget(request.path, request.query, used), request.headers);
  if (response.status === 400) {
    const text = await response.readText();
    const retryVersion = versions.learnFromRefusal(used, requested, text);
    if (retryVersion === undefined) {
      response = response.withBody(text);
    } else {
      used = retryVersion;
      response = await client.get(upstreamTarget(request.path, request.query, used), request.headers);
    }
  }
  return { response, usedApiVersion: used, ...(used !== requested ? { mapping: { requested, used } } : {}) };
}
