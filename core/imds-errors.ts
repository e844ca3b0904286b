// Every error answer of the proxy, in the shapes IMDS callers parse (PROTOCOLS.md §1).
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { NEWEST_IMDS_API_VERSIONS } from './api-versions.js';
import { PROXY_SERVER_HEADER } from './contract.js';

/** The token endpoint answers OAuth-style errors; every other endpoint IMDS's `{"error"}`. */
export type ErrorShape = 'token' | 'general';

/** OAuth 2 error codes (RFC 6749 §5.2 / §4.1.2.1) used when a token request fails. */
const OAUTH_ERROR_BY_STATUS: Partial<Record<number, string>> = {
  400: 'invalid_request',
  403: 'access_denied',
  404: 'invalid_request',
  405: 'invalid_request',
  500: 'server_error',
  502: 'server_error',
  503: 'temporarily_unavailable',
  504: 'temporarily_unavailable',
};

/** IMDS phrases general errors as "<Reason>. <detail>". */
const REASON_BY_STATUS: Partial<Record<number, string>> = {
  400: 'Bad request',
  403: 'Forbidden',
  404: 'Not found',
  405: 'Method not allowed',
  500: 'Internal error',
  502: 'Bad gateway',
  503: 'Service unavailable',
  504: 'Gateway timeout',
};

export interface ImdsProblemOptions {
  /** Overrides the OAuth error code on the token endpoint. */
  oauthError?: string;
  retryAfterSeconds?: number;
  /** Extra top-level fields, e.g. IMDS's `newest-versions`. */
  extraFields?: Record<string, unknown>;
  cause?: unknown;
}

/**
 * A failure the proxy answers itself. Routes throw it; app.onError renders it in the shape
 * of the endpoint asked. `detail` must never contain a secret.
 */
export class ImdsProblem extends Error {
  override readonly name = 'ImdsProblem';
  constructor(
    readonly status: ContentfulStatusCode,
    readonly detail: string,
    readonly options: ImdsProblemOptions = {},
  ) {
    super(detail, { cause: options.cause });
  }
}

export function isImdsProblem(error: unknown): error is ImdsProblem {
  return error instanceof ImdsProblem;
}

export const API_VERSION_INVALID_DETAIL =
  'api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds';

export function invalidApiVersionProblem(): ImdsProblem {
  return new ImdsProblem(400, API_VERSION_INVALID_DETAIL, {
    extraFields: { 'newest-versions': NEWEST_IMDS_API_VERSIONS },
  });
}

/** The JSON body for a problem in the given shape (a pure builder, tested as a table). */
export function problemBody(problem: ImdsProblem, shape: ErrorShape): Record<string, unknown> {
  if (shape === 'token') {
    return {
      error: problem.options.oauthError ?? OAUTH_ERROR_BY_STATUS[problem.status] ?? 'server_error',
      error_description: problem.detail,
      ...problem.options.extraFields,
    };
  }
  const reason = REASON_BY_STATUS[problem.status] ?? 'Error';
  return { error: `${reason}. ${problem.detail}`, ...problem.options.extraFields };
}

export function problemResponse(problem: ImdsProblem, shape: ErrorShape): Response {
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    server: PROXY_SERVER_HEADER,
  };
  if (problem.options.retryAfterSeconds !== undefined) headers['retry-after'] = String(problem.options.retryAfterSeconds);
  return new Response(JSON.stringify(problemBody(problem, shape)), { status: problem.status, headers });
}
