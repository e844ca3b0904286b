// What the fake agent answers to each request: the guard, api-version check and the four HIMDS routes.
//
// Request flow: method → Metadata header → path → api-version → route.
// Identity selectors (client_id, object_id, msi_res_id, mi_res_id) are ignored and the
// system-assigned identity's token is returned, as legacy Arc agents do (msal-node's AzureArc
// source and msal4j both note it). That is the dangerous behaviour the proxy must shield callers from.
import type { ChallengeKeyStore } from './challenge-keys.js';
import type { EmulatorFaults } from './faults.js';
import {
  buildArcInstanceMetadata,
  isLeafValue,
  lookupInstancePath,
  type ArcMachineIdentity,
  type MetadataValue,
} from './instance-metadata.js';
import { buildTokenBody } from './token-body.js';

export interface EmulatorAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface EmulatorRequest {
  method: string;
  url: URL;
  metadataHeader: string | undefined;
  authorization: string | undefined;
}

export interface RouteContext {
  machine: ArcMachineIdentity;
  supportedApiVersions: readonly string[];
  serveIdentityInfo: boolean;
  serveInstanceSubpaths: boolean;
  faults: EmulatorFaults;
  keys: ChallengeKeyStore;
  onTokenIssued(accessToken: string): void;
}

const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

export function jsonAnswer(status: number, value: unknown, headers: Record<string, string> = {}): EmulatorAnswer {
  return { status, headers: { 'content-type': JSON_CONTENT_TYPE, ...headers }, body: JSON.stringify(value) };
}

export function errorAnswer(status: number, error: string, description: string, headers: Record<string, string> = {}): EmulatorAnswer {
  return jsonAnswer(status, { error, error_description: description }, headers);
}

function textAnswer(text: string): EmulatorAnswer {
  return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: text };
}

export async function answerRequest(request: EmulatorRequest, context: RouteContext): Promise<EmulatorAnswer> {
  if (request.method !== 'GET') {
    return errorAnswer(405, 'invalid_request', `Method ${request.method} is not allowed`, { allow: 'GET' });
  }
  if (request.metadataHeader?.toLowerCase() !== 'true') {
    return errorAnswer(400, 'invalid_request', 'Required metadata header not specified');
  }
  const path = request.url.pathname;
  const route = chooseRoute(path, context);
  if (route === undefined) {
    return errorAnswer(404, 'not_found', `No handler for ${path}`);
  }
  const apiVersionProblem = checkApiVersion(request.url.searchParams.get('api-version'), context.supportedApiVersions);
  if (apiVersionProblem !== undefined) return apiVersionProblem;
  return route(request, context);
}

type Route = (request: EmulatorRequest, context: RouteContext) => EmulatorAnswer | Promise<EmulatorAnswer>;

function chooseRoute(path: string, context: RouteContext): Route | undefined {
  if (path === '/metadata/identity/oauth2/token') return answerToken;
  if (path === '/metadata/identity/info') return context.serveIdentityInfo ? answerIdentityInfo : undefined;
  if (path === '/metadata/instance') return answerInstance;
  if (path.startsWith('/metadata/instance/') && context.serveInstanceSubpaths) return answerInstance;
  return undefined;
}

/** Worded like a 2024 agent's answer, which ends with the versions it accepts, newest first. */
function checkApiVersion(apiVersion: string | null, supported: readonly string[]): EmulatorAnswer | undefined {
  if (apiVersion !== null && supported.includes(apiVersion)) return undefined;
  const problem = apiVersion === null ? 'api-version was not specified' : `Invalid api-version ${apiVersion}`;
  return errorAnswer(400, 'invalid_request', `${problem}. Supported are ${supported.join(' ')}`);
}

async function answerToken(request: EmulatorRequest, context: RouteContext): Promise<EmulatorAnswer> {
  const resource = request.url.searchParams.get('resource');
  if (resource === null || resource === '') {
    return errorAnswer(400, 'invalid_request', "Required query variable 'resource' is missing");
  }
  const outcome = await context.keys.redeem(request.authorization, context.faults);
  if (outcome !== 'accepted') {
    const challenge = await context.keys.issueChallenge(context.faults);
    const description = outcome === 'absent' ? 'Authorization required' : 'Invalid or expired secret';
    return errorAnswer(401, 'unauthorized', description, challenge === undefined ? {} : { 'www-authenticate': challenge });
  }
  const { accessToken, body } = buildTokenBody({
    machine: context.machine,
    resource,
    numbersAsNumbers: context.faults.tokenNumbersAsNumbers,
  });
  context.onTokenIssued(accessToken);
  return jsonAnswer(200, body);
}

function answerIdentityInfo(_request: EmulatorRequest, context: RouteContext): EmulatorAnswer {
  return jsonAnswer(200, { tenantId: context.machine.tenantId });
}

function answerInstance(request: EmulatorRequest, context: RouteContext): EmulatorAnswer {
  const segments = request.url.pathname.split('/').slice('/metadata/instance'.split('/').length);
  const lookup = lookupInstancePath(buildArcInstanceMetadata(context.machine), segments);
  if (lookup.kind === 'missing') {
    return errorAnswer(404, 'not_found', `No instance metadata at ${request.url.pathname}`);
  }
  const wantsText = request.url.searchParams.get('format') === 'text';
  if (isLeafValue(lookup.value)) {
    if (!wantsText) {
      return errorAnswer(400, 'invalid_request', 'Leaf values are served as text only: add format=text');
    }
    return textAnswer(lookup.value ?? '');
  }
  return wantsText ? textAnswer(listChildren(lookup.value)) : jsonAnswer(200, lookup.value);
}

/** IMDS answers format=text on an inner node with its children, one per line, inner ones ending in "/". */
function listChildren(value: MetadataValue): string {
  const entries: [string, MetadataValue][] = Array.isArray(value)
    ? value.map((element, index) => [String(index), element])
    : value !== null && typeof value === 'object'
      ? Object.entries(value)
      : [];
  return entries.map(([name, child]) => (isLeafValue(child) ? name : `${name}/`)).join('\n');
}
